// glibc's malloc tuning (mallopt), which the Glibc module does not import. Used by the
// executable only, to set process-wide allocator settings at start.
#ifndef CMALLOC_SHIM_H
#define CMALLOC_SHIM_H
#include <malloc.h>

/// `M_ARENA_MAX` as a constant Swift can read.
static const int CMalloc_M_ARENA_MAX = M_ARENA_MAX;
#endif
