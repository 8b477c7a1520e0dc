/* fw_text.c (Featherweight C runtime, see fw_runtime.h): UTF-8 decoding, per-codepoint normalisation by the
 * model's tables, whitespace, UTF-8 encoding. */

#define FW_TEXT_END 0xFFFFFFFFu /* what the readers return after the last codepoint */

/* Next codepoint of the UTF-8 bytes [*text, end), or FW_TEXT_END there. Well-formed sequences only
 * (Unicode 15, Table 3-7); otherwise U+FFFD for the maximal subpart: the lead byte and the continuation
 * bytes that could still begin a well-formed sequence. So an overlong form (C0, C1, E0 80..9F, F0
 * 80..8F), a surrogate (ED A0..BF), a value above U+10FFFF (F4 90.., F5..FF), a cut sequence or a stray
 * continuation byte each give U+FFFD, as Python's bytes.decode("utf-8", "replace"); NUL is a codepoint. */
static uint32_t fw_utf8_next(const unsigned char **text, const unsigned char *end)
{
    const unsigned char *p = *text;
    uint32_t c;
    unsigned lo = 0x80, hi = 0xBF;  /* the range of the next continuation byte */
    int extra;
    if (p == end) return FW_TEXT_END;
    c = *p++;
    if (c < 0x80) { *text = p; return c; }
    if (c >= 0xC2 && c <= 0xDF) { extra = 1; c &= 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) {
        extra = 2; c &= 0x0F;
        if (c == 0x0) lo = 0xA0;       /* E0: no overlong forms */
        else if (c == 0xD) hi = 0x9F;  /* ED: no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        extra = 3; c &= 0x07;
        if (c == 0) lo = 0x90;         /* F0: no overlong forms */
        else if (c == 4) hi = 0x8F;    /* F4: nothing above U+10FFFF */
    } else { *text = p; return 0xFFFD; }  /* 80..C1, F5..FF never start a sequence */
    for (; extra > 0; extra--, lo = 0x80, hi = 0xBF) {
        if (p == end || *p < lo || *p > hi) { *text = p; return 0xFFFD; }
        c = (c << 6) | (*p++ & 0x3Fu);
    }
    *text = p;
    return c;
}

/* A stream of normalised codepoints: each input codepoint in a run becomes its run's codepoint, one
 * among the irregular keys its fw_norm_to units (possibly none); the others pass through. */
typedef struct {
    const unsigned char *text, *end;
    const uint16_t *pending;
    int n_pending;
} fw_reader;

static void fw_read(fw_reader *r, const char *text, size_t len)
{
    r->text = (const unsigned char *)text; r->end = r->text + len; r->pending = 0; r->n_pending = 0;
}

/* The index of the last of the sorted keys[lo .. hi) that is <= key, or -1 when none is. */
static int fw_norm_floor(const uint16_t *keys, int lo, int hi, unsigned key)
{
    int found = -1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (keys[mid] <= key) { found = mid; lo = mid + 1; }
        else hi = mid;
    }
    return found;
}

static uint32_t fw_next(fw_reader *r)
{
    for (;;) {
        uint32_t c;
        unsigned plane, key, k;
        int i;
        if (r->n_pending > 0) {
            c = *r->pending++;
            r->n_pending--;
            if (c >= 0xD800 && c <= 0xDBFF) {  /* a surrogate pair: the table's codepoints above U+FFFF */
                c = 0x10000 + ((c - 0xD800) << 10) + (*r->pending++ - 0xDC00u);
                r->n_pending--;
            }
            return c;
        }
        c = fw_utf8_next(&r->text, r->end);
        if (c == FW_TEXT_END || (c >> 16) >= FW_NORM_PLANES) return c;
        plane = c >> 16; key = c & 0xFFFFu;
        i = fw_norm_floor(fw_run_key, fw_run_plane[plane], fw_run_plane[plane + 1], key);
        if (i >= 0) {
            k = key - fw_run_key[i];
            if (k % fw_run_stride[i] == 0 && k / fw_run_stride[i] < fw_run_count[i])
                return (uint32_t)((int32_t)fw_run_first[i] + (int32_t)(k / fw_run_stride[i]) * fw_run_step[i]);
        }
        i = fw_norm_floor(fw_norm_key, fw_norm_plane[plane], fw_norm_plane[plane + 1], key);
        if (i < 0 || fw_norm_key[i] != key) return c;
        r->pending = fw_norm_to + fw_norm_start[i];
        r->n_pending = (int)(fw_norm_start[i + 1] - fw_norm_start[i]);
    }
}

#if FW_USES_IS_SPACE
/* Python's str.isspace(): the whitespace every split uses. */
static int fw_is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
#endif

#if FW_USES_UTF8_PUT
/* UTF-8 bytes of codepoint c into out; returns how many (1 to 4). */
static int fw_utf8_put(uint32_t c, unsigned char *out)
{
    if (c < 0x80) { out[0] = (unsigned char)c; return 1; }
    if (c < 0x800) { out[0] = (unsigned char)(0xC0 | (c >> 6)); out[1] = (unsigned char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (c >> 12)); out[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (c & 0x3F)); return 3;
    }
    out[0] = (unsigned char)(0xF0 | (c >> 18)); out[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F)); out[3] = (unsigned char)(0x80 | (c & 0x3F)); return 4;
}
#endif

int fw_tokenize(const char *text, fw_id_t *ids) { return fw_tokenize_n(text, strlen(text), ids); }
