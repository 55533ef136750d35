import Foundation

/// onnxruntime and OpenCV DNN in one Python process kept for the whole `bench inference` run
/// (tools/bench/peers.py --serve): each round asks it for the peers' medians right after timing
/// our engine, so the two sides of a round are milliseconds apart. A process per round put the
/// interpreter's and the model's start (seconds) between them, while this shared host's speed
/// changes within seconds: one Inception v3 run's ratios per round ranged 0.55–1.81.
final class PeerServer {
    private let process = Process()
    private let toPeer = Pipe(), fromPeer = Pipe()
    private var buffer = Data()
    /// Per peer: its version, or its error (also when the process could not start).
    private(set) var info: [String: [String: Any]] = [:]
    /// Per peer: the last error a run reported (a batch size it cannot take, say).
    private(set) var failures: [String: String] = [:]

    /// No process: the peers are reported as unavailable for `reason`.
    init(unavailable reason: String) { info["onnxruntime"] = ["error": reason] }

    init(python: String, script: String, model: String, shape: String) {
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, model, "--shape", shape, "--serve"]
        var env = ProcessInfo.processInfo.environment
        env["OMP_NUM_THREADS"] = "1"
        process.environment = env
        process.standardInput = toPeer
        process.standardOutput = fromPeer
        do { try process.run() } catch {
            info["onnxruntime"] = ["error": "cannot run \(python): \(error) (run scripts/setup.sh)"]
            return
        }
        guard let hello = readLine() else {
            info["onnxruntime"] = ["error": "\(script) exited before loading the model (exit \(finish()))"]
            return
        }
        info = hello.compactMapValues { $0 as? [String: Any] }
    }

    /// Names of the peers that loaded the model.
    var running: [String] { info.filter { $0.value["error"] == nil }.map(\.key).sorted() }

    /// Each running peer's median of `runs` runs at `batch` (10 warm-up runs the first time).
    func medians(batch: Int, runs: Int) -> [String: Double] {
        guard !running.isEmpty, process.isRunning else { return [:] }
        // A peer that died makes this write fail (EPIPE: SIGPIPE is ignored by `bench inference`).
        guard (try? toPeer.fileHandleForWriting.write(contentsOf: Data("\(batch) \(runs)\n".utf8))) != nil else { return [:] }
        let answer = readLine() ?? [:]
        for case let (peer, message as String) in answer { failures[peer] = "batch \(batch): \(message)" }
        return answer.compactMapValues { $0 as? Double }
    }

    /// Closes the peer's stdin (it exits at EOF) and waits for it; returns its exit status.
    @discardableResult func finish() -> Int32 {
        guard process.processIdentifier != 0 else { return -1 }
        try? toPeer.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// One JSON object per line; nil at EOF or on a line that is not one.
    private func readLine() -> [String: Any]? {
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<nl]
                buffer = Data(buffer[buffer.index(after: nl)...])
                return (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any]
            }
            let chunk = fromPeer.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
        }
    }
}
