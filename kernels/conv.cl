/* Convolution helpers around the SGEMM; launched by nodestudio/backend/planners/conv.py.
 *
 * conv2d runs as im2col + gemm: per image b, the columns matrix COLS_b (K x P) has a row per
 * filter tap k = (c, kh, kw) and a column per output position p = (oh, ow), so that
 *   forward      OUT_b (F x P)   = W (F x K) @ COLS_b          a batched gemm, NCHW directly;
 *   grad input   GCOLS_b (K x P) = W^T @ G_b (F x P)           a batched gemm, then col2im, a
 *                                                              gather per input pixel (no atomics);
 *   grad weight  GW (F x K)      = G_NF^T @ COLS_NK            one gemm over the whole batch, with
 *                the columns laid out N x K (a row per position n = (b, oh, ow)) and the output
 *                gradient as N x F (G_NF), so the long sum over n is the gemm's k loop.
 * Every size comes as a build option (-D): B C H W (input), F KH KW (filters), SH SW (stride),
 * PH PW (padding), OH OW (output), IDX (the index type); the text never changes.
 * One work-item per written element, neighbours along the output's contiguous axis; a kernel
 * guards its index (grids are rounded up).
 */
#define P ((IDX)OH * OW)
#define K (C * KH * KW)
#define N ((IDX)B * P)

/* cols[b, k, oh, 0 .. OW-1] (B x K x P): the forward's columns, one K x P matrix per image.
 * A work-item writes one row of OW positions of one tap k = (c, kh, kw), reading one input row:
 * a loop the compiler vectorises, where a work-item per element would gather. */
__kernel void conv_im2col_kp(__global const float *restrict x, __global float *restrict cols)
{
    const IDX e = (IDX)get_global_id(0);  /* (b, k, oh) */
    if (e >= (IDX)B * K * OH) return;
    const int oh = (int)(e % OH), k = (int)((e / OH) % K);
    const IDX b = e / ((IDX)OH * K);
    const int kw = k % KW, kh = (k / KW) % KH, c = k / (KW * KH);
    const int h = oh * SH + kh - PH;
    __global float *out = cols + e * OW;
    if (h < 0 || h >= H) {
        for (int ow = 0; ow < OW; ++ow) out[ow] = 0.0f;
        return;
    }
    const __global float *row = x + ((b * C + c) * H + h) * W;
    for (int ow = 0; ow < OW; ++ow) {
        const int w = ow * SW + kw - PW;
        out[ow] = (w >= 0 && w < W) ? row[w] : 0.0f;
    }
}

/* cols[n, k] (N x K): the weight gradient's columns, a row per output position n = (b, oh, ow).
 * A work-item writes the KW taps of one (n, c, kh), reading KW neighbours of one input row. */
__kernel void conv_im2col_nk(__global const float *restrict x, __global float *restrict cols)
{
    const IDX e = (IDX)get_global_id(0);  /* (n, c, kh) */
    if (e >= N * C * KH) return;
    const int kh = (int)(e % KH), c = (int)((e / KH) % C);
    const IDX n = e / ((IDX)KH * C);
    const IDX b = n / P;
    const int p = (int)(n % P), ow = p % OW, oh = p / OW;
    const int h = oh * SH + kh - PH, w0 = ow * SW - PW;
    __global float *out = cols + e * KW;
    const __global float *row = x + ((b * C + c) * H + h) * W;
    const bool inside = h >= 0 && h < H;
    for (int kw = 0; kw < KW; ++kw) {
        const int w = w0 + kw;
        out[kw] = (inside && w >= 0 && w < W) ? row[w] : 0.0f;
    }
}

/* The same columns on CPUs, written by long sequential runs in loops the compiler vectorises
 * within a work-item (launched one work-item per group): 5-8x the kernels above on PoCL 3.1.
 * cols[b, k, p] (B x K x P): a work-item per image plane (b, c) writes its K / C taps' rows. */
__kernel void conv_im2col_kp_planes(__global const float *restrict x, __global float *restrict cols)
{
    const IDX bc = (IDX)get_global_id(0);
    if (bc >= (IDX)B * C) return;
    const __global float *plane = x + bc * ((IDX)H * W);
    __global float *out = cols + bc * ((IDX)KH * KW * P);
    for (int kh = 0; kh < KH; ++kh)
        for (int kw = 0; kw < KW; ++kw)
            for (int oh = 0; oh < OH; ++oh) {
                const int h = oh * SH + kh - PH;
                const __global float *row = plane + h * W + kw - PW;
                const bool inside = h >= 0 && h < H;
                for (int ow = 0; ow < OW; ++ow) {
                    const int w = ow * SW + kw - PW;
                    *out++ = (inside && w >= 0 && w < W) ? row[ow * SW] : 0.0f;
                }
            }
}

/* cols[n, k] (N x K): a work-item per output row (b, oh) writes its OW rows of K taps */
__kernel void conv_im2col_nk_rows(__global const float *restrict x, __global float *restrict cols)
{
    const IDX e = (IDX)get_global_id(0);
    if (e >= (IDX)B * OH) return;
    const int oh = (int)(e % OH);
    const IDX b = e / OH;
    __global float *out = cols + e * ((IDX)OW * K);
    for (int ow = 0; ow < OW; ++ow)
        for (int c = 0; c < C; ++c)
            for (int kh = 0; kh < KH; ++kh) {
                const int h = oh * SH + kh - PH, w0 = ow * SW - PW;
                const __global float *row = x + ((b * C + c) * H + h) * W;
                const bool inside = h >= 0 && h < H;
                _Pragma("unroll") for (int kw = 0; kw < KW; ++kw) {
                    const int w = w0 + kw;
                    *out++ = (inside && w >= 0 && w < W) ? row[w] : 0.0f;
                }
            }
}

/* nf[(b * P + p) * F + f] = g[b, f, p]: an NCHW gradient as the N x F gemm operand */
__kernel void conv_nchw_to_nf(__global const float *restrict g, __global float *restrict nf)
{
    const IDX e = (IDX)get_global_id(0);
    if (e >= N * F) return;
    const int f = (int)(e % F);
    const IDX n = e / F;
    const IDX b = n / P, p = n % P;
    nf[e] = g[(b * F + f) * P + p];
}

/* gx[b, c, h, w] = sum of gcols[b, k, p] (B x K x P) over the taps k = (c, kh, kw) of the output
 * positions p = (oh, ow) that read pixel (h, w): oh * SH + kh - PH == h, ow * SW + kw - PW == w */
__kernel void conv_col2im(__global const float *restrict gcols, __global float *restrict gx)
{
    const IDX e = (IDX)get_global_id(0);
    if (e >= (IDX)B * C * H * W) return;
    const int w = (int)(e % W), h = (int)((e / W) % H), c = (int)((e / ((IDX)W * H)) % C);
    const IDX b = e / ((IDX)W * H * C);
    const __global float *g = gcols + (b * K + c * KH * KW) * P;
    float sum = 0.0f;
    _Pragma("unroll") for (int kh = 0; kh < KH; ++kh) {  /* unrolled: see pool.cl's EACH */
        const int th = h + PH - kh;
        if (th < 0 || th % SH) continue;
        const int oh = th / SH;
        if (oh >= OH) continue;
        _Pragma("unroll") for (int kw = 0; kw < KW; ++kw) {
            const int tw = w + PW - kw;
            if (tw < 0 || tw % SW) continue;
            const int ow = tw / SW;
            if (ow >= OW) continue;
            sum += g[(kh * KW + kw) * P + oh * OW + ow];
        }
    }
    gx[e] = sum;
}

/* The same sum on CPUs: a work-item per image plane (b, c) adds the taps into its own plane
 * (no other work-item writes it: no atomics), tap by tap and output row by output row, so the
 * innermost loop runs along contiguous memory on both sides and the compiler vectorises it
 * within the work-item (launched one work-item per group). 20x faster than the gather on
 * PoCL 3.1 (LeNet's second layer at batch 64: 0.15 ms against 3.3 ms). */
__kernel void conv_col2im_planes(__global const float *restrict gcols, __global float *restrict gx)
{
    const IDX bc = (IDX)get_global_id(0);
    if (bc >= (IDX)B * C) return;
    const int c = (int)(bc % C);
    const IDX b = bc / C;
    __global float *out = gx + bc * ((IDX)H * W);
    for (int e = 0; e < H * W; ++e) out[e] = 0.0f;
    const __global float *g = gcols + (b * K + c * KH * KW) * P;
    for (int kh = 0; kh < KH; ++kh)
        for (int kw = 0; kw < KW; ++kw) {
            /* the output columns whose tap kw lands inside the row: 0 <= ow * SW + kw - PW < W */
            const int lo = max(0, (PW - kw + SW - 1) / SW);
            const int hi = min(OW, (W + PW - kw + SW - 1) / SW);
            for (int oh = 0; oh < OH; ++oh) {
                const int h = oh * SH + kh - PH;
                if (h < 0 || h >= H) continue;
                __global float *row = out + h * W + kw - PW;
                const __global float *src = g + (kh * KW + kw) * P + oh * OW;
                for (int ow = lo; ow < hi; ++ow) row[ow * SW] += src[ow];
            }
        }
}

/* the input gradient when no output position or filter exists: zeros */
__kernel void conv_zero(__global float *restrict gx)
{
    const IDX e = (IDX)get_global_id(0);
    if (e < (IDX)B * C * H * W) gx[e] = 0.0f;
}
