// The second step of a GEMM split over k (nodestudio.backend.gemm, variant "gpu"): C is the sum
// of the $slices partial products the first step wrote one after another into scratch.

__kernel void $name(__global const float* restrict scratch, __global float* restrict C)
{
    const int i = get_global_id(0);
    if (i < $mn) {
        float s = 0.0f;
        for (int t = 0; t < $slices; ++t)
            s += scratch[(size_t)t * $mn + i];
        C[i] = s;
    }
}
