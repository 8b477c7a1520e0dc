/* fw_tokenizers.c (Featherweight C runtime, see fw_runtime.h): fw_tokenize_n, the model's tokenizer over the
 * normalised codepoints of fw_text.c. */

#if FW_TOKENIZER == FW_TOKENIZER_HASH
/* ---- hash tokenizer: words (and n-grams) -> FW_NUM_HASHES component ids + 1 importance id ---- */

#if FW_HASH_FUNCTION == FW_HASH_MURMUR3_32
/* MurmurHash3 x86_32, fed one byte at a time (same result as hashing the whole word at once). */
typedef struct { uint32_t h, tail, len; } fw_hash_state;

static uint32_t fw_rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static uint32_t fw_murmur_mix(uint32_t k)
{
    k *= 0xcc9e2d51u; k = fw_rotl32(k, 15); return k * 0x1b873593u;
}

static void fw_hash_start(fw_hash_state *s, uint32_t seed) { s->h = seed; s->tail = 0; s->len = 0; }

static void fw_hash_byte(fw_hash_state *s, unsigned char b)
{
    s->tail |= (uint32_t)b << (8 * (s->len & 3));
    s->len++;
    if ((s->len & 3) == 0) {
        s->h ^= fw_murmur_mix(s->tail);
        s->h = fw_rotl32(s->h, 13) * 5 + 0xe6546b64u;
        s->tail = 0;
    }
}

static uint32_t fw_hash_end(const fw_hash_state *s)
{
    uint32_t h = s->h;
    if (s->len & 3) h ^= fw_murmur_mix(s->tail);
    h ^= s->len;
    h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16;
    return h;
}
#else
/* FNV-1a 32 with the seed XORed into the offset basis. */
typedef struct { uint32_t h; } fw_hash_state;

static void fw_hash_start(fw_hash_state *s, uint32_t seed) { s->h = 0x811c9dc5u ^ seed; }
static void fw_hash_byte(fw_hash_state *s, unsigned char b) { s->h = (s->h ^ b) * 0x01000193u; }
static uint32_t fw_hash_end(const fw_hash_state *s) { return s->h; }
#endif

static int fw_is_punct(uint32_t c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

/* The hash states of the n-grams ending at the current word: h[m][i] is hash function i of its
 * (m + 1)-gram, the words from m words back to it joined by one space (h[0]: the word itself). */
typedef struct { fw_hash_state h[FW_WORD_NGRAMS][FW_NUM_HASHES + 1]; } fw_ngram_state;

/* A new word: each m-gram of the previous word, extended by a space, becomes an (m + 1)-gram. */
static void fw_word_start(fw_ngram_state *s)
{
    int m, i;
    for (m = FW_WORD_NGRAMS - 1; m > 0; m--)
        for (i = 0; i <= FW_NUM_HASHES; i++) {
            s->h[m][i] = s->h[m - 1][i];
            fw_hash_byte(&s->h[m][i], 0x20);
        }
    for (i = 0; i <= FW_NUM_HASHES; i++) fw_hash_start(&s->h[0][i], fw_hash_seeds[i]);
}

static void fw_word_add(fw_ngram_state *s, uint32_t c)
{
    unsigned char bytes[4];
    int n = fw_utf8_put(c, bytes), m, i, j;
    for (m = 0; m < FW_WORD_NGRAMS; m++)
        for (i = 0; i <= FW_NUM_HASHES; i++)
            for (j = 0; j < n; j++) fw_hash_byte(&s->h[m][i], bytes[j]);
}

/* The ids of token t: per order m + 1, FW_NUM_HASHES component ids and the importance id, or zeros
 * (padding) where the (m + 1)-gram would start before the first word. */
static void fw_word_end(const fw_ngram_state *s, int t, fw_id_t *row)
{
    int m, i;
    for (m = 0; m < FW_WORD_NGRAMS; m++, row += FW_NUM_HASHES + 1) {
        for (i = 0; i < FW_NUM_HASHES; i++)
            row[i] = t < m ? 0 : (fw_id_t)(fw_hash_end(&s->h[m][i]) % FW_NUM_COMPONENTS + 1);
        row[FW_NUM_HASHES] = t < m ? 0 : (fw_id_t)(fw_hash_end(&s->h[m][FW_NUM_HASHES]) % FW_NUM_BUCKETS + 1);
    }
}

int fw_tokenize_n(const char *text, size_t len, fw_id_t *ids)
{
    fw_reader r;
    fw_ngram_state state;
    int n = 0, in_word = 0;
    fw_read(&r, text, len);
    memset(&state, 0, sizeof state);  /* the n-gram states before the first word are never read out */
    for (;;) {
        uint32_t c = fw_next(&r);
        int space = c == FW_TEXT_END || fw_is_space(c);
        int punct = !space && FW_SPLIT_PUNCTUATION && fw_is_punct(c);
        if (space || punct) {
            if (in_word) {
                fw_word_end(&state, n, ids + n * FW_IDS_PER_TOKEN);
                in_word = 0;
                if (++n == FW_MAX_TOKENS) return n;
            }
            if (c == FW_TEXT_END) return n;
            if (punct) {  /* each ASCII punctuation character is a word of its own */
                fw_word_start(&state);
                fw_word_add(&state, c);
                fw_word_end(&state, n, ids + n * FW_IDS_PER_TOKEN);
                if (++n == FW_MAX_TOKENS) return n;
            }
            continue;
        }
        if (!in_word) { fw_word_start(&state); in_word = 1; }
        fw_word_add(&state, c);
    }
}

#elif FW_TOKENIZER == FW_TOKENIZER_CHAR
/* ---- char tokenizer: whitespace runs -> one space, stripped; alphabet index + 2, unknown 1 --- */

static fw_id_t fw_char_id(uint32_t c)
{
    int i;
    for (i = 0; i < FW_ALPHABET_SIZE; i++)
        if (fw_alphabet[i] == c) return (fw_id_t)(i + 2);
    return 1;
}

int fw_tokenize_n(const char *text, size_t len, fw_id_t *ids)
{
    fw_reader r;
    int n = 0, pending_space = 0;
    uint32_t c;
    fw_read(&r, text, len);
    while ((c = fw_next(&r)) != FW_TEXT_END) {
        if (fw_is_space(c)) { pending_space = n > 0; continue; }
        if (pending_space) {
            ids[n++] = fw_char_id(0x20);
            pending_space = 0;
            if (n == FW_MAX_TOKENS) return n;
        }
        ids[n++] = fw_char_id(c);
        if (n == FW_MAX_TOKENS) return n;
    }
    return n;
}

#else /* FW_TOKENIZER_BPE */
/* ---- BPE tokenizer: SentencePiece BPE on "▁"-marked words ---------------------------------- */

#define FW_WORD_MARK 0x2581u /* "▁" */

/* Byte offsets into the word buffer: 16 bits where they fit (RAM), else 32. */
#if FW_BPE_MAX_WORD_BYTES < 4 || FW_BPE_MAX_SYMBOLS < 1
#error "FW_BPE_MAX_WORD_BYTES must be at least 4 and FW_BPE_MAX_SYMBOLS at least 1"
#elif FW_BPE_MAX_WORD_BYTES > 0x3FFFFFFF || FW_BPE_MAX_SYMBOLS > 0x3FFFFFFF
#error "FW_BPE_MAX_WORD_BYTES and FW_BPE_MAX_SYMBOLS must stay below 2^30 (int offsets)"
#elif FW_BPE_MAX_WORD_BYTES <= 0xFFFF
typedef uint16_t fw_offset_t;
#else
typedef uint32_t fw_offset_t;
#endif

/* Index of the piece with these bytes in the sorted piece table, or -1. */
static int fw_piece_find(const unsigned char *s, int len)
{
    int lo = 0, hi = FW_NUM_PIECES - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int plen = (int)(fw_piece_start[mid + 1] - fw_piece_start[mid]);
        int cmp = memcmp(fw_piece_bytes + fw_piece_start[mid], s, (size_t)(plen < len ? plen : len));
        if (cmp == 0) cmp = plen - len;
        if (cmp < 0) lo = mid + 1;
        else if (cmp > 0) hi = mid - 1;
        else return mid;
    }
    return -1;
}

typedef struct {
    unsigned char bytes[FW_BPE_MAX_WORD_BYTES];  /* the current word */
    fw_offset_t start[FW_BPE_MAX_SYMBOLS + 1];   /* symbol i is bytes[start[i] .. start[i + 1]) */
    int32_t rank[FW_BPE_MAX_SYMBOLS];            /* merge rank of symbols (i, i + 1), -1 if not a piece */
    int n_symbols;
    fw_id_t *ids;
    int n_ids, previous_unknown;
} fw_bpe_state;

static fw_bpe_state fw_bpe;

static int32_t fw_pair_rank(const fw_bpe_state *s, int i)
{
    int k = fw_piece_find(s->bytes + s->start[i], (int)(s->start[i + 2] - s->start[i]));
    return k < 0 ? -1 : (int32_t)fw_piece_rank[k];
}

/* Merge the word's symbols greedily (best rank, then leftmost) and append their ids. */
static void fw_bpe_flush(fw_bpe_state *s)
{
    int i, n = s->n_symbols;
    for (i = 0; i + 1 < n; i++) s->rank[i] = fw_pair_rank(s, i);
    for (;;) {
        int best = -1;
        for (i = 0; i + 1 < n; i++)
            if (s->rank[i] >= 0 && (best < 0 || s->rank[i] < s->rank[best])) best = i;
        if (best < 0) break;
        memmove(s->start + best + 1, s->start + best + 2, sizeof(s->start[0]) * (size_t)(n - best - 1));
        memmove(s->rank + best, s->rank + best + 1, sizeof(s->rank[0]) * (size_t)(n - best - 2));
        n--;
        if (best + 1 < n) s->rank[best] = fw_pair_rank(s, best);
        if (best > 0) s->rank[best - 1] = fw_pair_rank(s, best - 1);
    }
    for (i = 0; i < n && s->n_ids < FW_MAX_TOKENS; i++) {
        int k = fw_piece_find(s->bytes + s->start[i], (int)(s->start[i + 1] - s->start[i]));
        if (k < 0) {  /* SentencePiece merges a run of unknown pieces into one */
            if (!s->previous_unknown) s->ids[s->n_ids++] = FW_BPE_UNKNOWN_ID;
            s->previous_unknown = 1;
        } else {
            s->ids[s->n_ids++] = fw_piece_id[k];
            s->previous_unknown = 0;
        }
    }
    s->n_symbols = 0;
    s->start[0] = 0;
}

static void fw_bpe_push(fw_bpe_state *s, uint32_t c)
{
    int used = s->start[s->n_symbols];
    if (s->n_symbols > 0 && (c == FW_WORD_MARK || s->n_symbols == FW_BPE_MAX_SYMBOLS ||
                             used + 4 > FW_BPE_MAX_WORD_BYTES)) {
        fw_bpe_flush(s);  /* a new word; or an over-long word, cut (see the export README) */
        used = 0;
    }
    s->start[s->n_symbols + 1] = (fw_offset_t)(used + fw_utf8_put(c, s->bytes + used));
    s->n_symbols++;
}

int fw_tokenize_n(const char *text, size_t len, fw_id_t *ids)
{
    fw_reader r;
    fw_bpe_state *s = &fw_bpe;
    int started = 0, pending_space = 0;
    uint32_t c;
    fw_read(&r, text, len);
    s->n_symbols = 0; s->start[0] = 0; s->ids = ids; s->n_ids = 0; s->previous_unknown = 0;
    while (s->n_ids < FW_MAX_TOKENS && (c = fw_next(&r)) != FW_TEXT_END) {
        if (c == 0x20 && FW_BPE_REMOVE_EXTRA_WHITESPACES) { pending_space = started; continue; }
        if (!started) {
            started = 1;
            if (FW_BPE_ADD_DUMMY_PREFIX) fw_bpe_push(s, FW_WORD_MARK);
        }
        if (pending_space) { fw_bpe_push(s, FW_WORD_MARK); pending_space = 0; }
        fw_bpe_push(s, c == 0x20 ? FW_WORD_MARK : c);
    }
    if (s->n_symbols > 0 && s->n_ids < FW_MAX_TOKENS) fw_bpe_flush(s);
    return s->n_ids;
}
#endif
