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
    @Option(help: "Rounds, each timing our engine then the peers (interleaved, so a shared host's slow phases hit both); medians over rounds are reported.") var rounds = 3

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
        var oursRounds: [[String: Double]] = []
        var peerRounds: [[String: Any]] = []
        for _ in 0..<rounds {
            var ours: [String: Double] = [:]
            for b in batchList {
                let shape = m.inputShape(batch: b)
                let x = Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &rng) })
                ours[String(b)] = try medianMs(runs: runs) { _ = try m.run(x) }
            }
            oursRounds.append(ours)
            if !noPeers { peerRounds.append(runPeers(model: path, shape: m.inputShape(batch: 1).dropFirst().map(String.init).joined(separator: "x"), batches: batchList)) }
        }
        var ours: [String: Double] = [:]
        for b in batchList { ours[String(b)] = median(oursRounds.compactMap { $0[String(b)] }) }
        var peers: [String: Any] = [:]
        var ratios: [String: [Double]] = [:]
        for key in ["onnxruntime", "opencv_dnn"] {
            let per = peerRounds.compactMap { $0[key] as? [String: Any] }
            guard let first = per.first else { continue }
            if first["error"] != nil { peers[key] = first; continue }
            var med: [String: Double] = [:]
            for b in batchList { med[String(b)] = median(per.compactMap { ($0["median_ms"] as? [String: Double])?[String(b)] }) }
            var p = first
            p["median_ms"] = med
            peers[key] = p
            let b1 = String(batchList[0])
            ratios[key] = zip(oursRounds, per).compactMap { o, q in
                guard let a = o[b1], let c = (q["median_ms"] as? [String: Double])?[b1], c > 0 else { return nil }
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
        print("settings  \(threads) thread(s); per round the median of \(runs) runs after 10 warm-up runs (random input); median over \(rounds) interleaved round(s)")
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

    func runPeers(model: String, shape: String, batches: [Int]) -> [String: Any] {
        let roots = Paths.dataRoots
        guard let root = roots.first(where: { FileManager.default.fileExists(atPath: "\($0)/tools/bench/peers.py") }) else {
            return ["onnxruntime": ["error": "tools/bench/peers.py not found"]]
        }
        let py = python ?? "\(root)/.venv/bin/python"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: py)
        p.arguments = ["\(root)/tools/bench/peers.py", model, "--shape", shape, "--batches", batches.map(String.init).joined(separator: ","), "--runs", String(runs)]
        var env = ProcessInfo.processInfo.environment
        env["OMP_NUM_THREADS"] = "1"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        do { try p.run() } catch { return ["onnxruntime": ["error": "cannot run \(py): \(error) (run scripts/setup.sh)"]] }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? ["onnxruntime": ["error": "peer script failed (exit \(p.terminationStatus))"]]
    }
}
