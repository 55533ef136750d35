import ArgumentParser
import Capture
import Foundation
import Inference

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (medians of many runs; machine and library versions printed).",
        subcommands: [BenchInference.self, BenchPipeline.self, BenchDetector.self, BenchCapture.self, BenchStartup.self])
}

/// Machine description printed with every benchmark.
enum Machine {
    static var summary: String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB"
    }
}

/// Median of already-aggregated values (upper middle for an even count; 0 when empty).
func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }

func medianMs(runs: Int, warmup: Int = 10, _ body: () throws -> Void) rethrows -> Double {
    for _ in 0..<warmup { try body() }
    var t: [Double] = []
    t.reserveCapacity(runs)
    for _ in 0..<runs {
        let s = DispatchTime.now().uptimeNanoseconds
        try body()
        t.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e6)
    }
    t.sort()
    return t.count % 2 == 1 ? t[t.count / 2] : (t[t.count / 2 - 1] + t[t.count / 2]) / 2
}

struct BenchInference: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inference",
        abstract: "Per-batch latency of our engine vs onnxruntime and OpenCV DNN on the same ONNX model, one thread.")

    @Argument(help: "ONNX model (default: the shipped emotion model).") var model: String?
    @Option(help: "Runs per batch size (median reported).") var runs = 200
    @Option(help: "Batch sizes, comma separated.") var batches = "1,8"
    @Option(help: "BLAS threads for our engine.") var threads = 1
    @Flag(help: "Skip the onnxruntime / OpenCV DNN peers.") var noPeers = false
    @Option(help: "Python with onnxruntime and cv2 (default: .venv/bin/python next to tools/).") var python: String?
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Flag(help: "Also print the median time per layer at the first batch size.") var profile = false
    @Option(help: "Rounds, each timing our engine then the peers (interleaved, so a shared host's slow phases hit both; the peers run in one process kept for all rounds); medians over rounds are reported.") var rounds = 3

    func run() throws {
        let path = try Paths.model(model)
        let batchList = batches.split(separator: ",").compactMap { Int($0) }
        guard !batchList.isEmpty, runs >= 1 else { throw ValidationError("--batches needs integers and --runs ≥ 1") }
        BLAS.threads = threads
        let t0 = DispatchTime.now().uptimeNanoseconds
        let m = try ONNXLoader.load(path: path)
        let loadMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        guard rounds >= 1 else { throw ValidationError("--rounds must be ≥ 1") }
        var rng = SystemRandomNumberGenerator()
        let inputs = batchList.map { b -> Tensor in
            let shape = m.inputShape(batch: b)
            return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
        }
        signal(SIGPIPE, SIG_IGN)
        let server = noPeers ? nil : startPeers(model: path, shape: m.inputShape(batch: 1).dropFirst().map(String.init).joined(separator: "x"))
        defer { server?.finish() }
        var oursRounds: [[String: Double]] = []
        var peerRounds: [[String: [String: Double]]] = []   // per round: peer → batch → ms
        for r in 0..<rounds {
            var ours: [String: Double] = [:], peers: [String: [String: Double]] = [:]
            for (b, x) in zip(batchList, inputs) {
                ours[String(b)] = try medianMs(runs: runs, warmup: r == 0 ? 10 : 1) { _ = try m.run(x) }
                for (peer, ms) in server?.medians(batch: b, runs: runs) ?? [:] { peers[peer, default: [:]][String(b)] = ms }
            }
            oursRounds.append(ours)
            peerRounds.append(peers)
        }
        var ours: [String: Double] = [:]
        for b in batchList { ours[String(b)] = median(oursRounds.compactMap { $0[String(b)] }) }
        var peers: [String: Any] = [:]
        var ratios: [String: [Double]] = [:]
        for (key, info) in server?.info ?? [:] {
            if info["error"] != nil { peers[key] = info; continue }
            let per = peerRounds.map { $0[key] ?? [:] }
            var med: [String: Double] = [:]
            for b in batchList {
                let times = per.compactMap { $0[String(b)] }
                if !times.isEmpty { med[String(b)] = median(times) }
            }
            if med.isEmpty { peers[key] = ["error": server?.failures[key] ?? "no result (the peer process ended)"]; continue }
            peers[key] = info.merging(["median_ms": med]) { $1 }
            let b1 = String(batchList[0])
            ratios[key] = zip(oursRounds, per).compactMap { o, q in
                guard let a = o[b1], let c = q[b1], c > 0 else { return nil }
                return a / c
            }
        }
        if profile {
            let shape = m.inputShape(batch: batchList[0])
            let x = Tensor(shape: shape, data: [Float](repeating: 0.1, count: shape.reduce(1, *)))
            for p in try m.profile(x, runs: runs) {
                // padded, never cut: tools/bench/layer-gap.py matches layers by their full names
                func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
                print("\(pad(p.kind, 16)) \(pad(p.layer, 40)) \(pad("\(p.shape)", 20)) \(String(format: "%.4f ms", p.ms))")
            }
        }

        if json {
            let obj: [String: Any] = ["model": path, "machine": Machine.summary, "blas": BLASRuntime.summary, "kernels": BLASRuntime.kernels, "threads": threads,
                                      "runs": runs, "rounds": rounds, "ratios_batch\(batchList[0])": ratios, "load_ms": loadMs, "macs_per_sample": m.macsPerSample,
                                      "parameters": m.parameterCount, "emotiond": ["median_ms": ours], "peers": peers]
            print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print("model     \(path)  (\(m.parameterCount) parameters, \(String(format: "%.1f", Double(m.macsPerSample) / 1e6)) M MACs/sample, loaded in \(String(format: "%.1f", loadMs)) ms)")
        print("machine   \(Machine.summary)")
        print("blas      \(BLASRuntime.summary)")
        print("kernels   \(BLASRuntime.kernels)")
        print("settings  \(threads) thread(s); per round and engine the median of \(runs) runs (random input; 10 warm-up runs before the first round, 1 before the others); median over \(rounds) interleaved round(s), each timing our engine then the peers' process (kept running)")
        var header = "engine".padding(toLength: 26, withPad: " ", startingAt: 0)
        for b in batchList { header += "batch \(b) (ms)".padding(toLength: 16, withPad: " ", startingAt: 0) + "per face (ms)  ".padding(toLength: 16, withPad: " ", startingAt: 0) }
        print(header)
        func row(_ name: String, _ med: [String: Double]) {
            var line = name.padding(toLength: 26, withPad: " ", startingAt: 0)
            for b in batchList {
                if let v = med[String(b)] {
                    line += String(format: "%-16.3f%-16.3f", v, v / Double(b))
                } else { line += "n/a".padding(toLength: 32, withPad: " ", startingAt: 0) }
            }
            print(line)
        }
        row("emotiond (ours)", ours)
        for key in ["onnxruntime", "opencv_dnn"] {
            guard let p = peers[key] as? [String: Any] else { continue }
            if let err = p["error"] as? String { print("\(key): unavailable (\(err))"); continue }
            let med = (p["median_ms"] as? [String: Double]) ?? [:]
            row("\(key) \(p["version"] as? String ?? "")", med)
            if let r = ratios[key], !r.isEmpty {
                print("  ratio ours/\(key) at batch \(batchList[0]): median \(String(format: "%.2f", median(r))) (per round: \(r.map { String(format: "%.2f", $0) }.joined(separator: " ")))")
            }
        }
    }

    func startPeers(model: String, shape: String) -> PeerServer {
        guard let root = Paths.dataRoots.first(where: { FileManager.default.fileExists(atPath: "\($0)/tools/bench/peers.py") }) else {
            return PeerServer(unavailable: "tools/bench/peers.py not found")
        }
        return PeerServer(python: python ?? "\(root)/.venv/bin/python", script: "\(root)/tools/bench/peers.py", model: model, shape: shape)
    }
}
