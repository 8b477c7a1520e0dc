/* ---- the API (fw_api.h of the Featherweight C runtime) -------------------------------------------
 * Text is UTF-8 of an explicit length in bytes (the _n functions: every byte is text, NUL included),
 * or a NUL-terminated C string (the others, which call them with strlen). Ill-formed UTF-8 (overlong
 * forms, surrogates, values above U+10FFFF, cut sequences, stray bytes) reads as U+FFFD, one per
 * maximal subpart (Unicode 15, section 3.9), as Python's bytes.decode("utf-8", "replace").
 * Not re-entrant: the work buffers are static.
 */

/* Label names, indexed like the logits. */
extern const char *const fw_label_names[FW_NUM_LABELS];

/* Token ids of the `len` bytes of UTF-8 at `text`, row-major (n, FW_IDS_PER_TOKEN) into `ids` (room for
 * FW_MAX_TOKENS rows); returns n. */
int fw_tokenize_n(const char *text, size_t len, fw_id_t *ids);

/* fw_tokenize_n of a NUL-terminated string. */
int fw_tokenize(const char *text, fw_id_t *ids);

#if FW_PAIR
/* Logits of a tokenized sentence pair. */
void fw_logits_from_ids_pair(const fw_id_t *ids_a, int n_a, const fw_id_t *ids_b, int n_b, float *logits);

/* Logits of the pair (len_a bytes of UTF-8 at text_a, len_b at text_b) into `logits` (FW_NUM_LABELS floats);
 * returns the predicted label index. */
int fw_predict_pair_n(const char *text_a, size_t len_a, const char *text_b, size_t len_b, float *logits);

/* fw_predict_pair_n of two NUL-terminated strings. */
int fw_predict_pair(const char *text_a, const char *text_b, float *logits);
#else
/* Logits of n tokenized tokens. */
void fw_logits_from_ids(const fw_id_t *ids, int n, float *logits);

/* Logits of the `len` bytes of UTF-8 at `text` into `logits` (FW_NUM_LABELS floats); returns the predicted
 * label index. */
int fw_predict_n(const char *text, size_t len, float *logits);

/* fw_predict_n of a NUL-terminated string. */
int fw_predict(const char *text, float *logits);
#endif
