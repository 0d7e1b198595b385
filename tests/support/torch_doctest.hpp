#pragma once
// doctest for test files that use LibTorch. LibTorch here is built with glog, whose CHECK*
// macros would silently replace doctest's; include torch first, drop glog's, then doctest.
#include <torch/types.h>
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#include <doctest/doctest.h>
