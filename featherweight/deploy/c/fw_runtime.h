/* fw_runtime.h: the switches, derived sizes and types of the Featherweight C runtime.
 *
 * The runtime is this file, fw_text.c, fw_tokenizers.c, fw_kernels.c and fw_network.c (and fw_api.h, the
 * declarations of the generated header). `featherweight export --format c` writes <prefix>_model.c as the model's
 * switches and sizes (#defines), this file, the model's tables, then the four .c files, each copied verbatim; it
 * renames fw_ / FW_ to the export's prefix at the very end. None of these files compiles on its own. No dynamic
 * allocation: the work buffers are static and sized by the macros.
 *
 * The switches the generator defines; each model compiles only the code it needs:
 *   FW_TOKENIZER           FW_TOKENIZER_HASH, FW_TOKENIZER_CHAR or FW_TOKENIZER_BPE
 *   FW_HASH_FUNCTION       hash: FW_HASH_MURMUR3_32 or FW_HASH_FNV1A_32
 *   FW_EMBED_HASH          1: hash embedding (component rows weighted by importance); 0: one table row a token
 *   FW_TABLE_STORAGE       the embedding table (components of a hash embedding): FW_STORAGE_INT8 (with
 *                          FW_TABLE_ZERO_POINTS 0 or 1), FW_STORAGE_LOWBIT or FW_STORAGE_PQ (FW_TABLE_BITS-bit
 *                          codes; PQ: FW_PQ_SUBSPACES sub-vectors of FW_PQ_DIM values)
 *   FW_IMPORTANCE_STORAGE  hash: FW_STORAGE_HALF, or FW_STORAGE_CODES (FW_IMPORTANCE_BITS-bit codes, one scale)
 *   FW_LOWBIT_MATRICES     1: some encoder or classifier matrix has b-bit codes; 0: all are int8
 *   FW_ENCODER             FW_ENCODER_BAG, FW_ENCODER_RNN or FW_ENCODER_LSTM (bidirectional, FW_HIDDEN a direction)
 *   FW_POOLING             FW_POOL_LAST, FW_POOL_MAX or FW_POOL_MEAN
 *   FW_CLASSIFIER_HIDDEN   units of the classifier's hidden layer, 0 for none
 *   FW_PAIR                (in the header) 1: the model reads a sentence pair
 */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FW_TOKENIZER_HASH 1 /* words (and n-grams) -> hashed component ids + an importance id */
#define FW_TOKENIZER_CHAR 2 /* codepoints -> alphabet index */
#define FW_TOKENIZER_BPE 3  /* SentencePiece BPE pieces */
#define FW_HASH_MURMUR3_32 1
#define FW_HASH_FNV1A_32 2
#define FW_STORAGE_INT8 1   /* int8 rows, a float scale per row (and a float zero point: FW_TABLE_ZERO_POINTS) */
#define FW_STORAGE_LOWBIT 2 /* b-bit rows packed flat, a float16 scale per row */
#define FW_STORAGE_PQ 3     /* product-quantized: b-bit codes into int8 codebooks, one float scale */
#define FW_STORAGE_HALF 4   /* float16 values */
#define FW_STORAGE_CODES 5  /* b-bit codes packed flat, one float scale */
#define FW_ENCODER_BAG 1    /* mean or max of the token embeddings */
#define FW_ENCODER_RNN 2    /* bidirectional Elman RNN (tanh) */
#define FW_ENCODER_LSTM 3   /* bidirectional LSTM */
#define FW_POOL_LAST 0
#define FW_POOL_MAX 1
#define FW_POOL_MEAN 2

#if FW_TOKENIZER != FW_TOKENIZER_HASH && FW_TOKENIZER != FW_TOKENIZER_CHAR && FW_TOKENIZER != FW_TOKENIZER_BPE
#error "FW_TOKENIZER must be FW_TOKENIZER_HASH, FW_TOKENIZER_CHAR or FW_TOKENIZER_BPE"
#endif
#if FW_EMBED_HASH != (FW_TOKENIZER == FW_TOKENIZER_HASH)
#error "FW_EMBED_HASH must be 1 exactly when FW_TOKENIZER is FW_TOKENIZER_HASH"
#endif
#if FW_TABLE_STORAGE != FW_STORAGE_INT8 && FW_TABLE_STORAGE != FW_STORAGE_LOWBIT && FW_TABLE_STORAGE != FW_STORAGE_PQ
#error "FW_TABLE_STORAGE must be FW_STORAGE_INT8, FW_STORAGE_LOWBIT or FW_STORAGE_PQ"
#endif
#if FW_ENCODER != FW_ENCODER_BAG && FW_ENCODER != FW_ENCODER_RNN && FW_ENCODER != FW_ENCODER_LSTM
#error "FW_ENCODER must be FW_ENCODER_BAG, FW_ENCODER_RNN or FW_ENCODER_LSTM"
#endif

#if FW_ENCODER == FW_ENCODER_BAG
#define FW_SENTENCE_DIM FW_EMBEDDING_DIM
#else
#define FW_SENTENCE_DIM (2 * FW_HIDDEN) /* [forward; backward] */
#endif
#if FW_ENCODER == FW_ENCODER_LSTM
#define FW_GATES 4 /* PyTorch's order: input, forget, cell, output */
#else
#define FW_GATES 1
#endif

/* The helpers this model calls (a static function that nothing calls is a compiler warning). */
#define FW_USES_IS_SPACE (FW_TOKENIZER != FW_TOKENIZER_BPE)  /* hash and char split on Python's whitespace */
#define FW_USES_UTF8_PUT (FW_TOKENIZER != FW_TOKENIZER_CHAR) /* hash hashes UTF-8 bytes, BPE matches them */
#define FW_USES_HALF (FW_TABLE_STORAGE == FW_STORAGE_LOWBIT || \
                      (FW_EMBED_HASH && FW_IMPORTANCE_STORAGE == FW_STORAGE_HALF))
#define FW_USES_SIGNED_CODES (FW_TABLE_STORAGE == FW_STORAGE_LOWBIT || FW_LOWBIT_MATRICES || \
                              (FW_EMBED_HASH && FW_IMPORTANCE_STORAGE == FW_STORAGE_CODES))
#define FW_USES_CODES (FW_USES_SIGNED_CODES || FW_TABLE_STORAGE == FW_STORAGE_PQ)

/* Compilers reorder no float sum here (each is written in its order) and must not fuse a multiply
 * and an add into one rounding: every compiler and flag set computes the same bits. GCC in ISO C mode
 * (-std=c99) never contracts; the pragma tells the compilers that do by default (clang). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* A weight matrix with one float scale per row, stored in panels of FW_PANEL rows (see fw_matvec_add): int8 codes
 * q, or (FW_LOWBIT_MATRICES, bits < 8) b-bit codes in the same order, packed 8 / b a byte (see fw_ucode). */
typedef struct {
    const int8_t *q; const float *scale; int rows, cols;
#if FW_LOWBIT_MATRICES
    const uint8_t *packed; int bits;
#endif
} fw_matrix;
