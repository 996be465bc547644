import Foundation
import GatewayCore
import Synchronization
import Testing

@Suite("Run claim")
struct RunClaimTests {
    @Test("A second claim is refused with the adapter's name until the first is released")
    func secondClaimRefused() throws {
        let delivered = Mutex(0)
        var claim = RunClaim(adapter: "Modbus")
        #expect(claim.sink == nil)
        try claim.claim(ReadingSink { batch in delivered.withLock { $0 += batch.count } })
        #expect(claim.sink != nil)
        #expect(throws: AdapterRunError.alreadyRunning(adapter: "Modbus")) { try claim.claim(ReadingSink { _ in }) }
        // The refused claim left the first sink in place.
        claim.sink?.emit([Reading(device: "d", point: "p", value: .int(1), unit: nil, quality: .good, timestamp: .now)])
        #expect(delivered.withLock { $0 } == 1)
        claim.release()
        #expect(claim.sink == nil)
        try claim.claim(ReadingSink { _ in })
        #expect(claim.sink != nil)
    }

    @Test("The error reads as the adapters have always said it")
    func description() {
        #expect(AdapterRunError.alreadyRunning(adapter: "MQTT devices").description == "the MQTT devices adapter is already running")
    }
}
