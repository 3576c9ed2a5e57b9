/* Uniform [0, 1) numbers from counter-based Philox, shared by the random kernel (random.cl)
 * and the fused elementwise kernels that draw where the numbers are used (elementwise.py).
 * Element e of a draw is word 0 of Philox4x32-10 with counter (e, call_index, 0, 0) and key
 * (seed, 0x5EED5EED), keeping its top 24 bits: exactly k / 2^24, bit for bit the same as
 * nodestudio/ops/philox.py.
 * A macro, not an inline function: PoCL 3.1 vectorises it across work-items as a macro and
 * runs the function form one work-item at a time (about four times slower). */
#include <pyopencl-random123/philox.cl>

#define NS_UNIFORM(out, seed, e, call_index) {                                  \
    const philox4x32_ctr_t ns_counter_ = {{(e), (call_index), 0u, 0u}};          \
    const philox4x32_key_t ns_key_ = {{(seed), 0x5EED5EEDu}};                    \
    out = (float)(philox4x32(ns_counter_, ns_key_).v[0] >> 8) * (1.0f / 16777216.0f); }
