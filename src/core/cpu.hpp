#pragma once
// What the processor can do, checked once at run time: the build targets plain x86-64, and the hot loops that
// have an AVX2 form (the line filter's scan, the byte check before parsing) choose it here.

namespace cf {

bool cpu_has_avx2();

}  // namespace cf
