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

/* the clipped window of output position (i, j); FULL_WINDOWS (no padding, no partial window)
 * makes its loops constant, which the compiler unrolls and vectorises across work-items */
#if FULL_WINDOWS
#define WINDOW(i, j) \
    const int r0 = (i) * SH, c0 = (j) * SW, rn = KH, cn = KW
#else
#define WINDOW(i, j) \
    const int r0 = max((i) * SH - PH, 0), rn = min((i) * SH - PH + KH, H) - r0; \
    const int c0 = max((j) * SW - PW, 0), cn = min((j) * SW - PW + KW, W) - c0
#endif
/* every (r, c) of the window, rows first: loops counted from 0, constant when FULL_WINDOWS, and
 * unrolled before PoCL vectorises across work-items (left as loops, the same kernel ran 3x
 * slower: measured on PoCL 3.1, 2x2 windows of 64 x 20 x 24 x 24) */
#define EACH(r, c) \
    _Pragma("unroll") for (int dr = 0; dr < rn; ++dr) \
        _Pragma("unroll") for (int dc = 0, r = r0 + dr, c = c0; dc < cn; ++dc, c = c0 + dc)

/* `at`: the offset in `plane` of the first maximum of window (i, j) (NaN first, as np.argmax);
 * selects, not branches, so that the loops vectorise */
#define FIRST_MAX(plane, i, j, at) \
    int at = -1; \
    { \
        WINDOW(i, j); \
        float best = -INFINITY; \
        EACH(r, c) { \
                const float v = plane[r * W + c]; \
                const bool take = at < 0 || ((v > best || v != v) && best == best); \
                best = take ? v : best; \
                at = take ? r * W + c : at; \
            } \
    }

/* the output rows (or columns) whose windows hold input row h: i * S - P <= h < i * S - P + K */
#define RANGE(h, S, P_, KS, O, lo, hi) \
    const int lo = max(0, ((h) + (P_) - (KS) + (S)) / (S)), hi = min((O) - 1, ((h) + (P_)) / (S))

/* out[b, c, i, :]: a work-item per output row, its windows one after the other (loads along
 * input rows, which vectorises where a work-item per output would gather) */
__kernel void pool_forward(__global const float *restrict x, __global float *restrict out)
{
    const IDX e = (IDX)get_global_id(0);  /* (b, c, i) */
    if (e >= (IDX)B * C * OH) return;
    const int i = (int)(e % OH);
    const __global float *plane = x + (e / OH) * PLANE;
    __global float *o = out + e * OW;
    for (int j = 0; j < OW; ++j) {
        WINDOW(i, j);
#if MAX_POOL
        float best = -INFINITY;
        EACH(r, c) {
            const float v = plane[r * W + c];
            best = (v > best || v != v) && best == best ? v : best;
        }
        o[j] = rn * cn > 0 ? best : 0.0f;
#else
        float sum = 0.0f;
        EACH(r, c) sum += plane[r * W + c];
        const int count = rn * cn;
        o[j] = count > 0 ? sum / (float)count : 0.0f;
#endif
    }
}

/* Windows that do not overlap (stride >= window): a work-item per row of windows writes each
 * of its windows whole: the max's g at its first maximum and 0 elsewhere, or the average's
 * g / count everywhere. Pixels in no window were zeroed before (pool_zero) when there are any. */
__kernel void pool_backward_rows(__global const float *restrict x, __global const float *restrict g,
                                 __global float *restrict gx)
{
    const IDX e = (IDX)get_global_id(0);  /* (b, c, i) */
    if (e >= (IDX)B * C * OH) return;
    const int i = (int)(e % OH);
    const IDX bc = e / OH;
    const __global float *plane = x + bc * PLANE;
    const __global float *gp = g + e * OW;
    __global float *out = gx + bc * PLANE;
    for (int j = 0; j < OW; ++j) {
        WINDOW(i, j);
#if MAX_POOL
        FIRST_MAX(plane, i, j, at);
        const float v = gp[j];
        EACH(r, c) out[r * W + c] = r * W + c == at ? v : 0.0f;
#else
        const float v = gp[j] / (float)(rn * cn);
        EACH(r, c) out[r * W + c] = v;
#endif
    }
}

#if MAX_POOL
/* gx[b, c, h, w] = sum of g over the windows (overlapping ones) whose first maximum is (h, w) */
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
            FIRST_MAX(plane, i, j, at);
            sum += at == h * W + w ? gp[i * OW + j] : 0.0f;
        }
    gx[e] = sum;
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
            sum += gp[i * OW + j] / (float)(rn * cn);
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
