#if canImport(Glibc)
import CMalloc
import Glibc
#endif

/// Process-wide settings that only the executable makes (libraries never do).
enum ProcessTuning {
    /// Two malloc arenas instead of glibc's default of eight per core. The Modbus poller pool
    /// and the concurrency threads each allocate; with an arena per thread, freed memory stays
    /// scattered over many arenas and the resident size creeps up under steady load (measured
    /// at 2.3× overload: 127 → 147 MiB over 150 s with the default, 111 → 116 MiB with two,
    /// and more readings delivered; docs/benchmarks.md). `MALLOC_ARENA_MAX` in the
    /// environment still decides, for an operator who measured otherwise.
    static func limitMallocArenas() {
        #if canImport(Glibc)
        if getenv("MALLOC_ARENA_MAX") == nil {
            _ = mallopt(CMalloc_M_ARENA_MAX, 2)
        }
        #endif
    }
}
