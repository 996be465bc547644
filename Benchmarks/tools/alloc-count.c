// Counts heap allocations of a process, for "allocations per reading" figures:
//   cc -O2 -shared -fPIC -o /tmp/alloc-count.so Benchmarks/tools/alloc-count.c
//   LD_PRELOAD=/tmp/alloc-count.so PROGRAM ...   (prints the counts to stderr at exit)
// Run a workload twice with different sizes and divide the difference by the extra readings:
// what start-up and shutdown allocate cancels out. glibc's __libc_* entry points do the work.
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_ulong allocations;

void *malloc(size_t size) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_realloc(p, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    void *p = __libc_memalign(alignment, size);
    if (!p) return 12;  // ENOMEM
    *out = p;
    return 0;
}
void *aligned_alloc(size_t alignment, size_t size) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_memalign(alignment, size); }

__attribute__((destructor)) static void report(void) {
    char line[64];
    int n = snprintf(line, sizeof line, "alloc-count: %lu allocations\n", atomic_load(&allocations));
    fwrite(line, 1, (size_t)n, stderr);
}
