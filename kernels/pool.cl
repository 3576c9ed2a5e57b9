/* Max and average pooling over (B, C, H, W) and their gradients; launched by
 * nodestudio/backend/planners/pool.py. Sizes come as build options (-D): B C H W (input),
 * OH OW (output), KH KW (window), SH SW (stride), PH PW (padding), IDX (the index type).
 *
 * Window (i, j) covers rows i * SH - PH .. + KH - 1 and columns j * SW - PW .. + KW - 1, clipped
 * to the input: padding is never read, and with ignore_border false the last windows are
 * partial. The average divides by the clipped window's size (Theano's average_exc_pad). The
 * max propagates NaN (as np.max), and its gradient goes to the window's FIRST maximum in
 * row-major order (the first NaN if there is one, as np.argmax), only to it.
 * Gradients are gathers: one work-item per input pixel visits the windows that hold it.
 */
#define PLANE ((IDX)H * W)

/* the clipped window of output position (i, j) */
#define WINDOW(i, j) \
    const int r0 = max((i) * SH - PH, 0), r1 = min((i) * SH - PH + KH, H); \
    const int c0 = max((j) * SW - PW, 0), c1 = min((j) * SW - PW + KW, W)

/* the output rows (or columns) whose windows hold input row h: i * S - P <= h < i * S - P + K */
#define RANGE(h, S, P_, KS, O, lo, hi) \
    const int lo = max(0, ((h) + (P_) - (KS) + (S)) / (S)), hi = min((O) - 1, ((h) + (P_)) / (S))

__kernel void pool_forward(__global const float *restrict x, __global float *restrict out)
{
    const IDX e = (IDX)get_global_id(0);
    if (e >= (IDX)B * C * OH * OW) return;
    const int j = (int)(e % OW), i = (int)((e / OW) % OH);
    const __global float *plane = x + (e / ((IDX)OH * OW)) * PLANE;
    WINDOW(i, j);
#if MAX_POOL
    float best = -INFINITY;
    for (int r = r0; r < r1; ++r)
        for (int c = c0; c < c1; ++c) {
            const float v = plane[r * W + c];
            best = (v > best || v != v) && best == best ? v : best;
        }
    out[e] = r1 > r0 && c1 > c0 ? best : 0.0f;
#else
    float sum = 0.0f;
    for (int r = r0; r < r1; ++r)
        for (int c = c0; c < c1; ++c)
            sum += plane[r * W + c];
    const int count = (r1 - r0) * (c1 - c0);
    out[e] = count > 0 ? sum / (float)count : 0.0f;
#endif
}

#if MAX_POOL
/* gx[b, c, h, w] = sum of g over the windows whose first maximum is (h, w) */
__kernel void max_pool_backward(__global const float *restrict x, __global const float *restrict g,
                                __global float *restrict gx)
{
    const IDX e = (IDX)get_global_id(0);
    if (e >= (IDX)B * C * H * W) return;
    const int w = (int)(e % W), h = (int)((e / W) % H);
    const IDX bc = e / PLANE;
    const __global float *plane = x + bc * PLANE;
    const __global float *gp = g + bc * ((IDX)OH * OW);
    RANGE(h, SH, PH, KH, OH, i0, i1);
    RANGE(w, SW, PW, KW, OW, j0, j1);
    float sum = 0.0f;
    for (int i = i0; i <= i1; ++i)
        for (int j = j0; j <= j1; ++j) {
            WINDOW(i, j);
            float best = -INFINITY;
            int at = -1;
            for (int r = r0; r < r1; ++r)
                for (int c = c0; c < c1; ++c) {
                    const float v = plane[r * W + c];
                    if (at < 0 || ((v > best || v != v) && best == best)) {
                        best = v;
                        at = r * W + c;
                    }
                }
            if (at == h * W + w) sum += gp[i * OW + j];
        }
    gx[e] = sum;
}
/* Windows that do not overlap (stride >= window): one work-item per window writes its whole
 * window, g at the first maximum and 0 elsewhere; pixels outside every window were zeroed
 * before (pool_zero) when there are any. A quarter of the gather's work for 2x2 windows. */
__kernel void max_pool_backward_windows(__global const float *restrict x,
                                        __global const float *restrict g,
                                        __global float *restrict gx)
{
    const IDX e = (IDX)get_global_id(0);
    if (e >= (IDX)B * C * OH * OW) return;
    const int j = (int)(e % OW), i = (int)((e / OW) % OH);
    const IDX bc = e / ((IDX)OH * OW);
    const __global float *plane = x + bc * PLANE;
    __global float *out = gx + bc * PLANE;
    WINDOW(i, j);
    float best = -INFINITY;
    int at = -1;
    for (int r = r0; r < r1; ++r)
        for (int c = c0; c < c1; ++c) {
            const float v = plane[r * W + c];
            if (at < 0 || ((v > best || v != v) && best == best)) {
                best = v;
                at = r * W + c;
            }
        }
    const float gv = g[e];
    for (int r = r0; r < r1; ++r)
        for (int c = c0; c < c1; ++c)
            out[r * W + c] = r * W + c == at ? gv : 0.0f;
}
#else
/* gx[b, c, h, w] = sum over the windows holding (h, w) of g / (the window's size) */
__kernel void avg_pool_backward(__global const float *restrict g, __global float *restrict gx)
{
    const IDX e = (IDX)get_global_id(0);
    if (e >= (IDX)B * C * H * W) return;
    const int w = (int)(e % W), h = (int)((e / W) % H);
    const __global float *gp = g + (e / PLANE) * ((IDX)OH * OW);
    RANGE(h, SH, PH, KH, OH, i0, i1);
    RANGE(w, SW, PW, KW, OW, j0, j1);
    float sum = 0.0f;
    for (int i = i0; i <= i1; ++i)
        for (int j = j0; j <= j1; ++j) {
            WINDOW(i, j);
            sum += gp[i * OW + j] / (float)((r1 - r0) * (c1 - c0));
        }
    gx[e] = sum;
}
#endif

/* the gradient when there are no windows at all (an empty output): zeros */
__kernel void pool_zero(__global float *restrict gx)
{
    const IDX e = (IDX)get_global_id(0);
    if (e < (IDX)B * C * H * W) gx[e] = 0.0f;
}
