/* fw_harness.c: host test harness for an exported Featherweight model (c_build.py builds it; not part of the export).
 *
 *   fw_host tokens RECORDS               per text: n, then its n * FW_IDS_PER_TOKEN token ids
 *   fw_host logits RECORDS               per text (pair): the label, the logits and the nanoseconds taken
 *   fw_host codepoints RECORDS           per text: the codepoints of the UTF-8 decoder, before normalisation
 *   fw_host check RECORDS EXPECTED ATOL  compares the logits of each text (pair) with the next FW_NUM_LABELS
 *                                        numbers of the text file EXPECTED; reports each one off by more than
 *                                        ATOL (or not a number) and exits 1 when any is
 * RECORDS holds, per text, a 4-byte little-endian length and then that many bytes: any bytes, NUL and ill-formed
 * UTF-8 included; a pair model reads them two by two. Exit 2: bad usage or input. The harness includes the model
 * source, so it reaches the decoder, a static function.
 */
#define _POSIX_C_SOURCE 199309L
#include "fw_model.c"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static fw_id_t ids[FW_MAX_TOKENS * FW_IDS_PER_TOKEN];

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The whole file at `path` into a new buffer (*size bytes); 0 when it cannot be read. */
static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    unsigned char *data;
    long end;
    if (!file) { perror(path); return 0; }
    fseek(file, 0, SEEK_END); end = ftell(file); fseek(file, 0, SEEK_SET);
    data = end < 0 ? 0 : malloc((size_t)end + 1);
    if (!data || fread(data, 1, (size_t)end, file) != (size_t)end) {
        fprintf(stderr, "%s: read failed\n", path);
        free(data); fclose(file);
        return 0;
    }
    fclose(file);
    *size = (size_t)end;
    return data;
}

/* The next record of [*p, end) into (*text, *len); 0 when none is left, -1 when the file is cut. */
static int next_record(const unsigned char **p, const unsigned char *end, const char **text, size_t *len)
{
    size_t n;
    if (*p == end) return 0;
    if (end - *p < 4) return -1;
    n = (size_t)(*p)[0] | (size_t)(*p)[1] << 8 | (size_t)(*p)[2] << 16 | (size_t)(*p)[3] << 24;
    *p += 4;
    if ((size_t)(end - *p) < n) return -1;
    *text = (const char *)*p; *len = n; *p += n;
    return 1;
}

/* The next text of [*p, end) into (*a, *len_a), and for a pair model the next into (*b, *len_b); 0 when none is
 * left, -1 when the file is cut. */
static int next_text(const unsigned char **p, const unsigned char *end, const char **a, size_t *len_a,
                     const char **b, size_t *len_b)
{
    int got = next_record(p, end, a, len_a);
    if (got == 1 && FW_PAIR && next_record(p, end, b, len_b) != 1) return -1;
    return got;
}

static int run(const char *a, size_t len_a, const char *b, size_t len_b, float *logits)
{
#if FW_PAIR
    return fw_predict_pair_n(a, len_a, b, len_b, logits);
#else
    (void)b; (void)len_b;
    return fw_predict_n(a, len_a, logits);
#endif
}

static void print_tokens(const char *text, size_t len)
{
    int n = fw_tokenize_n(text, len, ids), j;
    printf("%d", n);
    for (j = 0; j < n * FW_IDS_PER_TOKEN; j++) printf(" %lu", (unsigned long)ids[j]);
    printf("\n");
}

static void print_codepoints(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    uint32_t c;
    while ((c = fw_utf8_next(&p, end)) != FW_TEXT_END) printf(" %lu", (unsigned long)c);
    printf("\n");
}

static void print_logits(const char *a, size_t len_a, const char *b, size_t len_b)
{
    float logits[FW_NUM_LABELS];
    long long began = now_ns();
    int label = run(a, len_a, b, len_b, logits), j;
    began = now_ns() - began;
    printf("%d", label);
    for (j = 0; j < FW_NUM_LABELS; j++) printf(" %.9g", logits[j]);
    printf(" %lld\n", began);
}

/* Compares the logits of text number `index` with the next FW_NUM_LABELS numbers of `expected`, each within
 * atol (a NaN on either side is off); reports each one that is not on stderr. Returns how many are off, or -1
 * when `expected` ends early. */
static int check_logits(const char *a, size_t len_a, const char *b, size_t len_b, long index, FILE *expected,
                        double atol)
{
    float logits[FW_NUM_LABELS];
    double want, off;
    int j, wrong = 0;
    run(a, len_a, b, len_b, logits);
    for (j = 0; j < FW_NUM_LABELS; j++) {
        if (fscanf(expected, "%lf", &want) != 1) return -1;
        off = fabs((double)logits[j] - want);
        if (!(off <= atol)) {
            fprintf(stderr, "text %ld, logit %d: %.9g, expected %.17g (off by %.3g, tolerance %g)\n", index, j,
                    (double)logits[j], want, off, atol);
            wrong++;
        }
    }
    return wrong;
}

/* The check mode: every text of [p, end) against the expected file; returns the exit status. */
static int check(const unsigned char *p, const unsigned char *end, const char *expected_path, double atol)
{
    FILE *expected = fopen(expected_path, "r");
    const char *a = "", *b = "";
    size_t len_a = 0, len_b = 0;
    long texts = 0, wrong = 0;
    double extra;
    int got = 0, off, status = 0;
    if (!expected) { perror(expected_path); return 2; }
    while (status == 0 && (got = next_text(&p, end, &a, &len_a, &b, &len_b)) == 1) {
        if ((off = check_logits(a, len_a, b, len_b, texts, expected, atol)) < 0) {
            fprintf(stderr, "%s: fewer than %d numbers for text %ld\n", expected_path, FW_NUM_LABELS, texts);
            status = 2;
        } else {
            wrong += off;
        }
        texts++;
    }
    if (status == 0 && got < 0) { fprintf(stderr, "the records file is cut short\n"); status = 2; }
    if (status == 0 && fscanf(expected, "%lf", &extra) == 1) {
        fprintf(stderr, "%s: more numbers than %ld texts of %d logits\n", expected_path, texts, FW_NUM_LABELS);
        status = 2;
    }
    if (status == 0 && wrong > 0) {
        fprintf(stderr, "%ld logits of %ld texts differ from the expected by more than %g\n", wrong, texts, atol);
        status = 1;
    }
    fclose(expected);
    return status;
}

enum { TOKENS, LOGITS, CODEPOINTS, CHECK, MODES };

/* The mode that argv names, with its arguments; -1 for bad usage. */
static int mode_of(int argc, char **argv, double *atol)
{
    static const char *const names[MODES] = {"tokens", "logits", "codepoints", "check"};
    char *rest;
    int mode;
    for (mode = 0; mode < MODES; mode++)
        if (argc >= 2 && !strcmp(argv[1], names[mode])) break;
    if (mode == MODES || argc != (mode == CHECK ? 5 : 3)) return -1;
    if (mode == CHECK) {
        *atol = strtod(argv[4], &rest);
        if (*rest != '\0' || !(*atol >= 0.0)) return -1;
    }
    return mode;
}

int main(int argc, char **argv)
{
    unsigned char *data;
    const unsigned char *p, *end;
    const char *a = "", *b = "";
    size_t size, len_a = 0, len_b = 0;
    float warm_up[FW_NUM_LABELS];
    double atol = 0.0;
    int mode = mode_of(argc, argv, &atol), got;
    if (mode < 0) {
        fprintf(stderr, "usage: %s tokens|logits|codepoints RECORDS_FILE\n"
                        "       %s check RECORDS_FILE EXPECTED_LOGITS_FILE ATOL\n", argv[0], argv[0]);
        return 2;
    }
    if (!(data = read_file(argv[2], &size))) return 2;
    end = data + size;
    if (mode == CHECK) {
        got = check(data, end, argv[3], atol);
        free(data);
        return got;
    }
    p = data;
    if (mode == LOGITS && next_text(&p, end, &a, &len_a, &b, &len_b) == 1) run(a, len_a, b, len_b, warm_up);
    for (p = data; (got = mode == LOGITS ? next_text(&p, end, &a, &len_a, &b, &len_b)
                                         : next_record(&p, end, &a, &len_a)) == 1; ) {
        if (mode == TOKENS) print_tokens(a, len_a);
        else if (mode == LOGITS) print_logits(a, len_a, b, len_b);
        else print_codepoints(a, len_a);
    }
    free(data);
    if (got < 0) { fprintf(stderr, "%s: a record is cut short\n", argv[2]); return 2; }
    return 0;
}
