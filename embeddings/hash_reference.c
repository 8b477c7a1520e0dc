/* C reference for featherweight.embeddings.hashing: MurmurHash3 x86_32 and seeded FNV-1a 32.
 *
 * Token ids for a hash tokenizer (spec fields num_hashes=k, num_components=B,
 * num_buckets=K, hash_seed=s):  component i (0 <= i < k) = fw_hash(token, s + i) % B + 1,
 * importance = fw_hash(token, s + k) % K + 1, hashing the token's UTF-8 bytes.
 * Build the self-test with:  cc -DFW_HASH_MAIN hash_reference.c -o fw_hash
 * and run:  ./fw_hash murmur3_32 SEED TOKEN...   (prints one unsigned hash per token)
 */
#include <stdint.h>
#include <stddef.h>

static uint32_t fw_rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

uint32_t fw_murmur3_32(const uint8_t *data, size_t len, uint32_t seed) {
    const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
    uint32_t h = seed, k;
    size_t i, nblocks = len / 4;
    for (i = 0; i < nblocks; i++) {
        const uint8_t *p = data + 4 * i;
        k = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
        k *= c1; k = fw_rotl32(k, 15); k *= c2;
        h ^= k; h = fw_rotl32(h, 13); h = h * 5 + 0xe6546b64u;
    }
    const uint8_t *tail = data + 4 * nblocks;
    k = 0;
    switch (len & 3) {
        case 3: k ^= (uint32_t)tail[2] << 16; /* fall through */
        case 2: k ^= (uint32_t)tail[1] << 8;  /* fall through */
        case 1: k ^= tail[0]; k *= c1; k = fw_rotl32(k, 15); k *= c2; h ^= k;
    }
    h ^= (uint32_t)len;
    h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16;
    return h;
}

uint32_t fw_fnv1a_32(const uint8_t *data, size_t len, uint32_t seed) {
    uint32_t h = 0x811c9dc5u ^ seed;
    for (size_t i = 0; i < len; i++) { h ^= data[i]; h *= 0x01000193u; }
    return h;
}

#ifdef FW_HASH_MAIN
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s murmur3_32|fnv1a_32 SEED TOKEN...\n", argv[0]); return 2; }
    int murmur = strcmp(argv[1], "murmur3_32") == 0;
    uint32_t seed = (uint32_t)strtoul(argv[2], NULL, 10);
    for (int i = 3; i < argc; i++) {
        const uint8_t *s = (const uint8_t *)argv[i];
        size_t n = strlen(argv[i]);
        printf("%u\n", murmur ? fw_murmur3_32(s, n, seed) : fw_fnv1a_32(s, n, seed));
    }
    return 0;
}
#endif
