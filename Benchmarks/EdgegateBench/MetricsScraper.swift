import Admin
import Foundation
import GatewayCore
import Synchronization

/// Scrapes the daemon's `GET /metrics` at a fixed period on a thread of its own, as
/// Prometheus would, and keeps what each scrape cost: how long the answer took and its size.
final class MetricsScraper: Sendable {
    struct Figures: Sendable {
        var scrapes = 0
        var failures = 0
        var firstFailure: String?
        var seconds: [Double] = []
        var bytes = 0
    }

    private let figures = Mutex(Figures())
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    /// Starts scraping `http://127.0.0.1:port/metrics` every `period`.
    init(port: Int, period: Duration) throws {
        let client = try AdminClient(url: "http://127.0.0.1:\(port)")
        let thread = Thread { [self] in
            var next = ContinuousClock.now
            while !stopped.load(ordering: .relaxed) {
                let start = ContinuousClock.now
                do {
                    let answer = try client.get("/metrics")
                    let took = (ContinuousClock.now - start).seconds
                    figures.withLock {
                        $0.scrapes += 1
                        $0.seconds.append(took)
                        $0.bytes = answer.body.count
                        if answer.status != 200 {
                            $0.failures += 1
                            $0.firstFailure = $0.firstFailure ?? "status \(answer.status)"
                        }
                    }
                } catch {
                    figures.withLock {
                        $0.failures += 1
                        $0.firstFailure = $0.firstFailure ?? "\(error)"
                    }
                }
                next = next + period
                let wait = next - ContinuousClock.now
                if wait > .zero { Thread.sleep(forTimeInterval: wait.seconds) }
            }
            done.signal()
        }
        thread.name = "bench-scrape"
        thread.start()
    }

    /// Stops the loop (after the scrape in progress) and returns the figures.
    func stop() -> Figures {
        stopped.store(true, ordering: .relaxed)
        done.wait()
        return figures.withLock { $0 }
    }

    /// The figures so far, without stopping.
    var snapshot: Figures { figures.withLock { $0 } }
}
