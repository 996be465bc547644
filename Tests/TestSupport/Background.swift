import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs `work` on a thread of its own at the lowest CPU priority (nice 19) and returns what
/// it returns.
///
/// For tests that compute for seconds: thousands of parses, hundreds of thousands of numbers.
/// On the concurrency pool such work holds one of its threads (the pool has as many as the
/// machine has cores: two on the CI runner), and every other test's tasks wait behind it;
/// the tests with time limits (a shutdown, a reconnect, a command's answer) then fail for
/// no fault of the code they test. At nice 19 the work takes only the CPU that nobody else
/// wants, and the pool stays free.
///
/// The work runs outside the test's task: record no issues in it (`#expect` needs the task
/// of the test), return what the test should check instead.
public func inBackground<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread {
            // Linux's nice is per thread, and `who` 0 is the calling thread: this renices
            // only the work's own thread.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            continuation.resume(returning: work())
        }
        // Parsers recurse, and debug builds have large frames.
        thread.stackSize = 16 << 20
        thread.start()
    }
}

/// The CPU time the calling thread has used: what a loop's own work took, whatever share
/// of the machine the scheduler gave it (a time limit on a busy machine measures this, not
/// the wall clock).
public func threadCPUTime() -> Duration {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return .seconds(now.tv_sec) + .nanoseconds(now.tv_nsec)
}
