import Foundation
import Settings
import XCTest
@testable import Config

/// Seeded mutation fuzzer for the configuration reader, starting from config/emotiond.yaml:
/// mutated keys, values and types, nesting, sizes and encodings. The property: no crash, no
/// case running over 1 s, and the result is either located errors or a configuration whose
/// every value is within its documented range.
/// EMOTIOND_FUZZ_SEED and EMOTIOND_FUZZ_CASES reproduce or extend a run.
final class ConfigFuzzTests: XCTestCase {
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Progress shared with the watchdog: which case runs, since when.
    final class Progress: @unchecked Sendable {
        let lock = NSLock()
        var index = -1, started = Date(), startedCPU = 0.0, done = false, input: [UInt8] = []
        var clock = clockid_t(CLOCK_THREAD_CPUTIME_ID)
        /// Called on the worker: its CPU clock is what the watchdog reads (a loaded machine may
        /// descheduled the worker for a second; a hang spins or waits far longer).
        func attach() { lock.lock(); pthread_getcpuclockid(pthread_self(), &clock); lock.unlock() }
        func cpu() -> Double { var t = timespec(); clock_gettime(clock, &t); return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9 }
        func begin(_ i: Int, _ bytes: [UInt8]) {
            lock.lock(); index = i; started = Date(); startedCPU = cpu(); input = bytes; lock.unlock()
        }
        /// The running case, its CPU seconds and wall seconds so far.
        func snapshot() -> (Int, Double, TimeInterval, Bool, [UInt8]) {
            lock.lock(); defer { lock.unlock() }
            return (index, cpu() - startedCPU, Date().timeIntervalSince(started), done, input)
        }
        func finish() { lock.lock(); done = true; lock.unlock() }
    }

    func testMutatedConfigsGiveLocatedErrorsOrValidConfigs() throws {
        let env = ProcessInfo.processInfo.environment
        let seed = env["EMOTIOND_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        let cases = env["EMOTIOND_FUZZ_CASES"].flatMap { Int($0) } ?? 10_000
        let base = Array(try String(contentsOf: ConfigReaderTests.root.appendingPathComponent("config/emotiond.yaml"),
                                    encoding: .utf8).utf8)
        print("config fuzz: \(cases) cases, seed \(seed) (EMOTIOND_FUZZ_SEED=\(seed) reproduces)")
        let progress = Progress()
        final class Tally: @unchecked Sendable { var valid = 0, refused = 0, slowest = 0.0, total = 0.0, failures: [String] = [] }
        let tally = Tally()
        // The cases run on a thread of the daemon's main-thread stack size (8 MiB), watched from here.
        let worker = Thread {
            progress.attach()
            var rng = SplitMix64(state: seed)
            for i in 0..<cases where tally.failures.count < 5 {
                let input = Mutator(base: base).mutate(&rng)
                progress.begin(i, input)
                let t0 = Date()
                let p = ConfigLoader.decode(input, file: "fuzz.yaml")
                tally.slowest = max(tally.slowest, Date().timeIntervalSince(t0)); tally.total += Date().timeIntervalSince(t0)
                if let why = Self.violation(p, input) {
                    tally.failures.append("case \(i): \(why); input saved to \(Self.save(input, seed, i))")
                }
                if p.errors.isEmpty { tally.valid += 1 } else { tally.refused += 1 }
            }
            progress.finish()
        }
        worker.stackSize = 8 << 20
        worker.start()
        while true {
            usleep(50_000)
            let (i, cpu, wall, done, input) = progress.snapshot()
            if done { break }
            if cpu > 1 || wall > 10 {
                XCTFail("seed \(seed) case \(i) still running after \(cpu) s CPU (\(wall) s); input saved to \(Self.save(input, seed, i))")
                return
            }
        }
        print("config fuzz: \(tally.valid) valid, \(tally.refused) refused with located errors; reading took "
              + String(format: "%.1f s in all, %.3f s at most", tally.total, tally.slowest))
        for f in tally.failures { XCTFail("seed \(seed) \(f)") }
        XCTAssertGreaterThan(tally.valid, cases / 50, "the mutations must leave some configurations valid")
        XCTAssertGreaterThan(tally.refused, cases / 2)
    }

    static func save(_ input: [UInt8], _ seed: UInt64, _ i: Int) -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("config-fuzz-\(seed)-\(i).yaml").path
        FileManager.default.createFile(atPath: p, contents: Data(input))
        return p
    }

    /// Why a result breaks the property, or nil.
    static func violation(_ p: ParsedConfig, _ input: [UInt8]) -> String? {
        let lines = yamlLines(input)
        for e in p.errors {
            guard e.file == "fuzz.yaml", !e.message.isEmpty else { return "unattributed error \(e)" }
            let wholeFile = e.line == 0 && e.key.isEmpty && e.message.hasPrefix("file is larger than")
            guard wholeFile || (1...lines + 1).contains(e.line) else { return "error without a line in the file: \(e)" }
        }
        return p.errors.isEmpty ? invalidValue(p.config) : nil
    }

    /// Lines as YAML counts them: LF, CRLF, CR, NEL, LS and PS each end one.
    static func yamlLines(_ b: [UInt8]) -> Int {
        var n = 1, i = 0
        while i < b.count {
            switch b[i] {
            case 0x0A: n += 1
            case 0x0D: n += 1; if i + 1 < b.count, b[i + 1] == 0x0A { i += 1 }
            case 0xC2 where i + 1 < b.count && b[i + 1] == 0x85: n += 1; i += 1
            case 0xE2 where i + 2 < b.count && b[i + 1] == 0x80 && (b[i + 2] == 0xA8 || b[i + 2] == 0xA9): n += 1; i += 2
            default: break
            }
            i += 1
        }
        return n
    }

    /// A value of an accepted configuration outside its documented range, or nil.
    static func invalidValue(_ c: EmotiondConfig) -> String? {
        func out<T: Comparable>(_ name: String, _ v: T, _ r: ClosedRange<T>) -> String? { r.contains(v) ? nil : "\(name) = \(v)" }
        let strings = [c.camera.name, c.mqtt.host, c.mqtt.topicPrefix, c.mqtt.clientID, c.mqtt.discoveryPrefix] + [c.camera.device, c.camera.source,
            c.detector.cascade, c.log.path, c.mqtt.username, c.mqtt.password, c.mqtt.passwordFile, c.mqtt.caFile,
            c.mqtt.certFile, c.mqtt.keyFile, c.metrics.listen, c.snapshotDir].compactMap { $0 } + c.model.paths
        if let s = strings.first(where: { $0.isEmpty || $0.unicodeScalars.contains { $0.properties.generalCategory == .control } }) {
            return "accepted string \(s.debugDescription)"
        }
        if c.camera.name.range(of: "^[A-Za-z0-9_-]{1,64}$", options: .regularExpression) == nil { return "camera.name \(c.camera.name)" }
        if c.mqtt.topicPrefix.contains("#") || c.mqtt.topicPrefix.contains("+") { return "topic_prefix \(c.mqtt.topicPrefix)" }
        if c.mqtt.discoveryPrefix.contains("#") || c.mqtt.discoveryPrefix.contains("+") { return "discovery_prefix \(c.mqtt.discoveryPrefix)" }
        if let l = c.metrics.listen, HostPort(listen: l) == nil { return "listen \(l)" }
        return [out("width", c.camera.width, Limits.width), out("height", c.camera.height, Limits.height),
                out("fps", c.camera.fps, Limits.fps), out("buffers", c.camera.buffers, Limits.buffers),
                out("timeout", c.camera.timeout, Limits.cameraTimeout), out("scale", c.detector.scale, Limits.detectScale),
                out("scale_factor", c.detector.scaleFactor, Limits.scaleFactor),
                out("min_neighbors", c.detector.minNeighbors, Limits.minNeighbors), out("min_size", c.detector.minSize, Limits.minSize),
                out("max_size", c.detector.maxSize, Limits.maxSize), out("full_detect_every", c.fullDetectEvery, Limits.fullDetectEvery),
                c.model.cropMargin.flatMap { out("crop_margin", $0, Limits.cropMargin) },
                out("iou", c.tracking.iouThreshold, Limits.iouThreshold), out("max_age", c.tracking.maxAge, Limits.maxAge),
                out("ema_alpha", c.tracking.emaAlpha, Limits.emaAlpha), out("debounce", c.tracking.debounce, Limits.debounce),
                out("min_hits", c.tracking.minHits, Limits.minHits), out("min_confidence", c.minConfidence, Limits.minConfidence),
                out("max_bytes", c.log.maxBytes, Limits.logMaxBytes), out("keep", c.log.keep, Limits.logKeep),
                out("flush_every", c.log.flushEvery, Limits.flushEvery), out("port", c.mqtt.port, Limits.port),
                out("qos", c.mqtt.qos, Limits.qos), out("keepalive", c.mqtt.keepalive, Limits.keepalive),
                out("queue_size", c.mqtt.queueSize, Limits.queueSize),
                out("state_interval", c.mqtt.stateInterval, Limits.stateInterval)].compactMap { $0 }.first
    }
}
