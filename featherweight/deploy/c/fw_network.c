/* fw_network.c (Featherweight C runtime, see fw_runtime.h): the network. Embedding rows from their storage, the
 * encoder, the classifier, and the public API. */

/* ---- embedding: rows of the table (the components of a hash embedding) ------------------------ */

/* FW_TABLE(_q) names the array fw_embedding_q of the table (fw_components_q for a hash embedding). */
#if FW_EMBED_HASH
#define FW_TABLE(part) fw_components##part
#else
#define FW_TABLE(part) fw_embedding##part
#endif

#if FW_TABLE_STORAGE == FW_STORAGE_INT8
/* Row `id` of a table of int8 rows: (q - zero point) times the row's scale (zero 0: a symmetric table). */
static void fw_row_int8(const int8_t *q, const float *scale, const float *zero, size_t id, float *out)
{
    float s = scale[id], z = zero ? zero[id] : 0.0f;
    int j;
    q += id * FW_EMBEDDING_DIM;
    for (j = 0; j < FW_EMBEDDING_DIM; j++) out[j] = ((float)q[j] - z) * s;
}

#if FW_TABLE_ZERO_POINTS
#define FW_TABLE_ROW(id, out) fw_row_int8(FW_TABLE(_q), FW_TABLE(_scale), FW_TABLE(_zero), (id), (out))
#else
#define FW_TABLE_ROW(id, out) fw_row_int8(FW_TABLE(_q), FW_TABLE(_scale), 0, (id), (out))
#endif

#elif FW_TABLE_STORAGE == FW_STORAGE_LOWBIT
/* Row `id` of a table of b-bit rows (codes packed flat, row-major): its codes times the row's float16 scale. */
static void fw_row_lowbit(const uint8_t *packed, int bits, const uint16_t *scale_f16, size_t id, float *out)
{
    float s = fw_half(scale_f16[id]);
    size_t first = id * FW_EMBEDDING_DIM;
    int j;
    for (j = 0; j < FW_EMBEDDING_DIM; j++) out[j] = (float)fw_scode(packed, first + (size_t)j, bits) * s;
}

#define FW_TABLE_ROW(id, out) fw_row_lowbit(FW_TABLE(_codes), FW_TABLE_BITS, FW_TABLE(_scale_f16), (id), (out))

#else /* FW_STORAGE_PQ */
/* Row `id` of a product-quantized table: sub-vector s (dims s * dim ..) is entry codes[id, s] (b-bit, unsigned,
 * packed flat, row-major) of codebook s (int8, 2^b entries of dim values), times the table's one scale; the last
 * sub-vector is cut to the table's width. */
static void fw_row_pq(const uint8_t *codes, int bits, const int8_t *codebooks, float scale, int subspaces, int dim,
                      size_t id, float *out)
{
    int s, j;
    for (s = 0; s < subspaces; s++) {
        size_t entry = ((size_t)s << bits) + fw_ucode(codes, id * (size_t)subspaces + (size_t)s, bits);
        const int8_t *value = codebooks + entry * (size_t)dim;
        for (j = 0; j < dim && s * dim + j < FW_EMBEDDING_DIM; j++) out[s * dim + j] = (float)value[j] * scale;
    }
}

#define FW_TABLE_ROW(id, out) \
    fw_row_pq(FW_TABLE(_codes), FW_TABLE_BITS, FW_TABLE(_codebooks), FW_TABLE(_scale), FW_PQ_SUBSPACES, FW_PQ_DIM, \
              (id), (out))
#endif

/* ---- embedding: the vector of one token ----------------------------------------------------- */

#if FW_EMBED_HASH
/* Hash importance weight i: float16 bits, or b-bit codes packed flat times the table's one scale. */
#if FW_IMPORTANCE_STORAGE == FW_STORAGE_HALF
#define FW_IMPORTANCE(i) fw_half(fw_importance_f16[(i)])
#else
#define FW_IMPORTANCE(i) ((float)fw_scode(fw_importance_codes, (i), FW_IMPORTANCE_BITS) * fw_importance_scale)
#endif

/* Hash embedding of one token: over its FW_WORD_NGRAMS groups of ids (the word, then the n-grams
 * ending at it; padding groups add zero), the sum of importance[i] * component row i (FW_IMPORTANCE and
 * FW_TABLE_ROW read them from their storage). */
static void fw_embed(const fw_id_t *token, float *x)
{
    static float row[FW_EMBEDDING_DIM];
    int g, i, j;
    for (j = 0; j < FW_EMBEDDING_DIM; j++) x[j] = 0.0f;
    for (g = 0; g < FW_WORD_NGRAMS; g++, token += FW_NUM_HASHES + 1) {
        size_t importance = (size_t)token[FW_NUM_HASHES] * FW_NUM_HASHES;
        for (i = 0; i < FW_NUM_HASHES; i++) {
            float weight = FW_IMPORTANCE(importance + (size_t)i);
            FW_TABLE_ROW(token[i], row);
            for (j = 0; j < FW_EMBEDDING_DIM; j++) x[j] += weight * row[j];
        }
    }
}

#else
/* Embedding row of one token, read by FW_TABLE_ROW (the table's storage: fw_row_int8, _lowbit or _pq). */
static void fw_embed(const fw_id_t *token, float *x) { FW_TABLE_ROW(token[0], x); }
#endif

/* ---- encoder: the sentence vector (FW_SENTENCE_DIM floats) of n tokens ------------------------- */

#if FW_ENCODER == FW_ENCODER_BAG
/* Bag of embeddings: mean (or max) of the token embeddings; zeros for no tokens. */
static void fw_encode(const fw_id_t *ids, int n, float *out)
{
    static float x[FW_EMBEDDING_DIM];
    int t, j;
    for (j = 0; j < FW_EMBEDDING_DIM; j++) out[j] = 0.0f;
    for (t = 0; t < n; t++) {
        fw_embed(ids + (size_t)t * FW_IDS_PER_TOKEN, x);
        for (j = 0; j < FW_EMBEDDING_DIM; j++) {
#if FW_POOLING == FW_POOL_MAX
            if (t == 0 || x[j] > out[j]) out[j] = x[j];
#else
            out[j] += x[j];
#endif
        }
    }
#if FW_POOLING == FW_POOL_MEAN
    if (n > 0) for (j = 0; j < FW_EMBEDDING_DIM; j++) out[j] /= (float)n;
#endif
}

#else
/* One direction of the recurrent layer over the n tokens, pooled into out (FW_HIDDEN floats). */
static void fw_direction(const fw_id_t *ids, int n, int reverse, const fw_matrix *w_ih, const fw_matrix *w_hh,
                         const float *bias, float *out)
{
    static float x[FW_EMBEDDING_DIM], h[FW_HIDDEN], gates[FW_GATES * FW_HIDDEN];
#if FW_ENCODER == FW_ENCODER_LSTM
    static float cell[FW_HIDDEN];
#endif
    int step, j;
    for (j = 0; j < FW_HIDDEN; j++) {
        h[j] = 0.0f; out[j] = 0.0f;
#if FW_ENCODER == FW_ENCODER_LSTM
        cell[j] = 0.0f;
#endif
    }
    for (step = 0; step < n; step++) {
        int t = reverse ? n - 1 - step : step;
        fw_embed(ids + (size_t)t * FW_IDS_PER_TOKEN, x);
        for (j = 0; j < FW_GATES * FW_HIDDEN; j++) gates[j] = bias[j];
        fw_matvec_add(w_ih, x, gates);
        fw_matvec_add(w_hh, h, gates);
        for (j = 0; j < FW_HIDDEN; j++) {
#if FW_ENCODER == FW_ENCODER_LSTM  /* PyTorch gate order: input, forget, cell, output */
            float in = fw_sigmoid(gates[j]), forget = fw_sigmoid(gates[FW_HIDDEN + j]);
            float candidate = fw_tanh(gates[2 * FW_HIDDEN + j]), output = fw_sigmoid(gates[3 * FW_HIDDEN + j]);
            cell[j] = forget * cell[j] + in * candidate;
            h[j] = output * fw_tanh(cell[j]);
#else
            h[j] = fw_tanh(gates[j]);
#endif
#if FW_POOLING == FW_POOL_MAX
            if (step == 0 || h[j] > out[j]) out[j] = h[j];
#elif FW_POOLING == FW_POOL_MEAN
            out[j] += h[j];
#endif
        }
    }
#if FW_POOLING == FW_POOL_LAST  /* the state after the whole sentence, in each direction */
    if (n > 0) for (j = 0; j < FW_HIDDEN; j++) out[j] = h[j];
#elif FW_POOLING == FW_POOL_MEAN
    if (n > 0) for (j = 0; j < FW_HIDDEN; j++) out[j] /= (float)n;
#endif
}

/* Bidirectional encoder: [forward; backward] pooled states. */
static void fw_encode(const fw_id_t *ids, int n, float *out)
{
    fw_direction(ids, n, 0, &fw_forward_ih, &fw_forward_hh, fw_forward_bias, out);
    fw_direction(ids, n, 1, &fw_backward_ih, &fw_backward_hh, fw_backward_bias, out + FW_HIDDEN);
}
#endif

/* ---- classifier and API ---------------------------------------------------------------------- */

/* Classifier: [Linear -> ReLU ->] Linear. */
static void fw_classify(const float *features, float *logits)
{
    int j;
#if FW_CLASSIFIER_HIDDEN > 0
    static float hidden[FW_CLASSIFIER_HIDDEN];
    for (j = 0; j < FW_CLASSIFIER_HIDDEN; j++) hidden[j] = fw_hidden_bias[j];
    fw_matvec_add(&fw_hidden_layer, features, hidden);
    for (j = 0; j < FW_CLASSIFIER_HIDDEN; j++) if (hidden[j] < 0.0f) hidden[j] = 0.0f;
    features = hidden;
#endif
    for (j = 0; j < FW_NUM_LABELS; j++) logits[j] = fw_output_bias[j];
    fw_matvec_add(&fw_output_layer, features, logits);
}

static int fw_argmax(const float *logits)
{
    int j, best = 0;
    for (j = 1; j < FW_NUM_LABELS; j++) if (logits[j] > logits[best]) best = j;
    return best;
}

static fw_id_t fw_ids[FW_MAX_TOKENS * FW_IDS_PER_TOKEN];

#if FW_PAIR
/* [u; v; |u - v|; u * v] */
static void fw_pair_classify(const float *u, const float *v, float *logits)
{
    static float features[4 * FW_SENTENCE_DIM];
    int j;
    for (j = 0; j < FW_SENTENCE_DIM; j++) {
        features[j] = u[j];
        features[FW_SENTENCE_DIM + j] = v[j];
        features[2 * FW_SENTENCE_DIM + j] = fabsf(u[j] - v[j]);
        features[3 * FW_SENTENCE_DIM + j] = u[j] * v[j];
    }
    fw_classify(features, logits);
}

static float fw_u[FW_SENTENCE_DIM], fw_v[FW_SENTENCE_DIM];

void fw_logits_from_ids_pair(const fw_id_t *ids_a, int n_a, const fw_id_t *ids_b, int n_b, float *logits)
{
    fw_encode(ids_a, n_a, fw_u);
    fw_encode(ids_b, n_b, fw_v);
    fw_pair_classify(fw_u, fw_v, logits);
}

int fw_predict_pair_n(const char *text_a, size_t len_a, const char *text_b, size_t len_b, float *logits)
{
    int n = fw_tokenize_n(text_a, len_a, fw_ids);  /* one id buffer: encode a before tokenizing b */
    fw_encode(fw_ids, n, fw_u);
    n = fw_tokenize_n(text_b, len_b, fw_ids);
    fw_encode(fw_ids, n, fw_v);
    fw_pair_classify(fw_u, fw_v, logits);
    return fw_argmax(logits);
}

int fw_predict_pair(const char *text_a, const char *text_b, float *logits)
{
    return fw_predict_pair_n(text_a, strlen(text_a), text_b, strlen(text_b), logits);
}

#else
void fw_logits_from_ids(const fw_id_t *ids, int n, float *logits)
{
    static float sentence[FW_SENTENCE_DIM];
    fw_encode(ids, n, sentence);
    fw_classify(sentence, logits);
}

int fw_predict_n(const char *text, size_t len, float *logits)
{
    int n = fw_tokenize_n(text, len, fw_ids);
    fw_logits_from_ids(fw_ids, n, logits);
    return fw_argmax(logits);
}

int fw_predict(const char *text, float *logits) { return fw_predict_n(text, strlen(text), logits); }
#endif
