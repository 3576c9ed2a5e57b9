/* Convolution helpers around the SGEMM; generated launches by nodestudio/backend/planners/conv.py.
 *
 * conv2d runs as im2col + gemm + permute: the columns matrix COLS (N x K) has a row per output
 * position n = (b, oh, ow) and a column per filter tap k = (c, kh, kw), so that
 *   forward      OUT_NF (N x F) = COLS @ W^T        then NCHW from OUT_NF;
 *   grad weight  GW (F x K)     = G_NF^T @ COLS     (G_NF: the output gradient as N x F);
 *   grad input   GCOLS (N x K)  = G_NF @ W          then col2im, a gather per input pixel that
 *                                                   adds the taps that read it (no atomics).
 * Every size comes as a build option (-D): B C H W (input), F KH KW (filters), SH SW (stride),
 * PH PW (padding), OH OW (output), IDX (the index type); the text never changes.
 * One work-item per written element; a kernel guards its index (grids are rounded up).
 */
#define P ((IDX)OH * OW)
#define K (C * KH * KW)
#define N ((IDX)B * P)

/* cols[n, k] = x[b, c, oh * SH + kh - PH, ow * SW + kw - PW], or 0 in the padding */
__kernel void conv_im2col(__global const float *restrict x, __global float *restrict cols)
{
    const IDX e = (IDX)get_global_id(0);
    if (e >= N * K) return;
    const int k = (int)(e % K);
    const IDX n = e / K;
    const int kw = k % KW, kh = (k / KW) % KH, c = k / (KW * KH);
    const int ow = (int)(n % OW), oh = (int)((n / OW) % OH);
    const IDX b = n / P;
    const int h = oh * SH + kh - PH, w = ow * SW + kw - PW;
    cols[e] = (h >= 0 && h < H && w >= 0 && w < W) ? x[((b * C + c) * H + h) * W + w] : 0.0f;
}

/* out[b, f, p] = nf[(b * P + p) * F + f]: the gemm's N x F result into NCHW */
__kernel void conv_nf_to_nchw(__global const float *restrict nf, __global float *restrict out)
{
    const IDX e = (IDX)get_global_id(0);
    if (e >= N * F) return;
    const IDX p = e % P, bf = e / P;
    const int f = (int)(bf % F);
    const IDX b = bf / F;
    out[e] = nf[(b * P + p) * F + f];
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

/* gx[b, c, h, w] = sum of gcols[n, k] over the taps (kh, kw) of the output positions n that
 * read pixel (h, w): oh * SH + kh - PH == h, ow * SW + kw - PW == w */
__kernel void conv_col2im(__global const float *restrict gcols, __global float *restrict gx)
{
    const IDX e = (IDX)get_global_id(0);
    if (e >= (IDX)B * C * H * W) return;
    const int w = (int)(e % W), h = (int)((e / W) % H), c = (int)((e / ((IDX)W * H)) % C);
    const IDX b = e / ((IDX)W * H * C);
    float sum = 0.0f;
    for (int kh = 0; kh < KH; ++kh) {
        const int th = h + PH - kh;
        if (th < 0 || th % SH) continue;
        const int oh = th / SH;
        if (oh >= OH) continue;
        for (int kw = 0; kw < KW; ++kw) {
            const int tw = w + PW - kw;
            if (tw < 0 || tw % SW) continue;
            const int ow = tw / SW;
            if (ow >= OW) continue;
            sum += gcols[((b * OH + oh) * OW + ow) * K + (c * KH + kh) * KW + kw];
        }
    }
    gx[e] = sum;
}

/* the input gradient when no output position or filter exists: zeros */
__kernel void conv_zero(__global float *restrict gx)
{
    const IDX e = (IDX)get_global_id(0);
    if (e < (IDX)B * C * H * W) gx[e] = 0.0f;
}
