/* fw_kernels.c (Featherweight C runtime, see fw_runtime.h): numbers. float16 and packed b-bit codes, the
 * matrix-vector product of int8 (or packed b-bit) rows with float scales, and the activations; float
 * activations and accumulation, every sum in its written order and never fused into a multiply-add (the
 * FP_CONTRACT pragma of fw_runtime.h), so that every optimisation level gives the same bits. */

#if FW_USES_HALF
/* IEEE float16 bits -> float (exact). */
static float fw_half(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu, bits;
    float f;
    if (exponent == 0) {  /* zero or subnormal: mantissa * 2^-24 */
        f = (float)mantissa * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    bits = sign | (exponent == 31 ? 0x7F800000u : (exponent + 112u) << 23) | (mantissa << 13);
    memcpy(&f, &bits, sizeof f);
    return f;
}
#endif

#if FW_USES_CODES
/* Code i of an array of b-bit codes packed flat (b = 1, 2, 4 or 8; packing.pack_flat): 8 / b codes a byte, the
 * first in the lowest bits. fw_ucode reads it unsigned. */
static unsigned fw_ucode(const uint8_t *packed, size_t i, int bits)
{
    size_t per_byte = (size_t)(8 / bits);
    return ((unsigned)packed[i / per_byte] >> (unsigned)(i % per_byte * (size_t)bits)) & ((1u << bits) - 1u);
}
#endif

#if FW_USES_SIGNED_CODES
/* fw_ucode sign-extended: b-bit two's complement codes. */
static int fw_scode(const uint8_t *packed, size_t i, int bits)
{
    unsigned sign = 1u << (bits - 1);
    return (int)(fw_ucode(packed, i, bits) ^ sign) - (int)sign;
}
#endif

/* y[r] += scale[r] * (q[r, 0] x[0] + q[r, 1] x[1] + ...) for every row r, each row's sum taken column by
 * column in order: the plain dot product, no -ffast-math needed. The rows are stored in panels, each
 * column by column (row p + l, column c at q[p * cols + c * width + l]): FW_PANEL rows wide while that
 * many are left, then FW_PANEL_SMALL wide, then the rest. The inner loop thus updates `width`
 * independent rows from one x[c] with contiguous int8 loads, which compilers vectorise (gcc -O2 does when
 * the width is a constant) without changing a bit. */
#define FW_PANEL_SUMS(width)                                                   \
    for (c = 0; c < m->cols; c++, q += (width)) {                              \
        float xc = x[c];                                                       \
        for (l = 0; l < (width); l++) sum[l] += (float)q[l] * xc;             \
    }

#if FW_LOWBIT_MATRICES
#ifndef __OPTIMIZE_SIZE__  /* -Os (microcontrollers): fw_packed_panel_sums' compact loop only, the same sums */
/* fw_packed_panel_bytes: fw_packed_panel_sums of a FW_PANEL or FW_PANEL_SMALL panel of 4- or 2-bit codes (returns 1),
 * else nothing (returns 0). A column of such a panel is whole bytes; split[s * span + k] sums row k * (8 / b) + s,
 * read from bits s * b of byte k (span bytes a column), so that every inner loop runs over contiguous bytes and
 * sums with b a constant, which compilers vectorise; each row is still summed column by column in order. */
#define FW_PACKED_PANEL(width, b)                                                                      \
    {                                                                                                  \
        const int span = (width) * (b) / 8, top = 1 << ((b) - 1);                                      \
        for (c = 0; c < m->cols; c++, bytes += span) {                                                 \
            float xc = x[c];                                                                           \
            for (s = 0; s < 8 / (b); s++)                                                              \
                for (k = 0; k < span; k++)                                                             \
                    split[s * span + k] += (float)((((bytes[k] >> (s * (b))) & (2 * top - 1)) ^ top) - top) * xc; \
        }                                                                                              \
        for (s = 0; s < 8 / (b); s++)                                                                  \
            for (k = 0; k < span; k++) sum[k * (8 / (b)) + s] = split[s * span + k];                   \
    }

static int fw_packed_panel_bytes(const fw_matrix *m, int p, int width, const float *x, float *sum)
{
    const uint8_t *bytes = m->packed + (size_t)p * (size_t)m->cols * (size_t)m->bits / 8;
    float split[FW_PANEL];
    int c, k, s;
    for (k = 0; k < FW_PANEL; k++) split[k] = 0.0f;
    if (width == FW_PANEL && m->bits == 4) FW_PACKED_PANEL(FW_PANEL, 4)
    else if (width == FW_PANEL && m->bits == 2) FW_PACKED_PANEL(FW_PANEL, 2)
    else if (width == FW_PANEL_SMALL && m->bits == 4) FW_PACKED_PANEL(FW_PANEL_SMALL, 4)
    else if (width == FW_PANEL_SMALL && m->bits == 2) FW_PACKED_PANEL(FW_PANEL_SMALL, 2)
    else return 0;
    return 1;
}
#undef FW_PACKED_PANEL
#endif

/* The sums of fw_matvec_add over the panel of `width` rows at row p of a b-bit matrix, whose column c is codes
 * p * cols + c * width .. + width of the packed array: each row summed column by column in order from its
 * sign-extended codes, exactly as an int8 panel. */
static void fw_packed_panel_sums(const fw_matrix *m, int p, int width, const float *x, float *sum)
{
    size_t first = (size_t)p * (size_t)m->cols;
    int c, k;
#ifndef __OPTIMIZE_SIZE__
    if (fw_packed_panel_bytes(m, p, width, x, sum)) return;
#endif
    for (c = 0; c < m->cols; c++, first += (size_t)width) {
        float xc = x[c];
        for (k = 0; k < width; k++) sum[k] += (float)fw_scode(m->packed, first + (size_t)k, m->bits) * xc;
    }
}
#endif

static void fw_matvec_add(const fw_matrix *m, const float *x, float *y)
{
    int p, c, l, width;
    for (p = 0; p < m->rows; p += width) {
        float sum[FW_PANEL];
        int left = m->rows - p;
        width = left >= FW_PANEL ? FW_PANEL : left >= FW_PANEL_SMALL ? FW_PANEL_SMALL : left;
        for (l = 0; l < FW_PANEL; l++) sum[l] = 0.0f;
#if FW_LOWBIT_MATRICES
        if (m->bits < 8) fw_packed_panel_sums(m, p, width, x, sum);
        else
#endif
        {
            const int8_t *q = m->q + (size_t)p * (size_t)m->cols;
            if (width == FW_PANEL) FW_PANEL_SUMS(FW_PANEL)  /* constant widths: the loops the compiler vectorises */
            else if (width == FW_PANEL_SMALL) FW_PANEL_SUMS(FW_PANEL_SMALL)
            else FW_PANEL_SUMS(width)
        }
        for (l = 0; l < width; l++) y[p + l] += sum[l] * m->scale[p + l];
    }
}
#undef FW_PANEL_SUMS

#if FW_ENCODER == FW_ENCODER_LSTM
static float fw_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
#endif

#if FW_ENCODER != FW_ENCODER_BAG
/* tanh through expf: sign(x) (1 - e) / (1 + e) with e = exp(-2|x|). As accurate as glibc's tanhf (both
 * within 1.1e-7 of tanh over all floats in [-12, 12]) and faster: that one goes through expm1f. */
static float fw_tanh(float x)
{
    float e = expf(-2.0f * fabsf(x)), t = (1.0f - e) / (1.0f + e);
    return x < 0.0f ? -t : t;
}
#endif
