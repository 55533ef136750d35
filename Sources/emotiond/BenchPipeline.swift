import ArgumentParser
import Capture
import EmotionCore
import Foundation
import Imaging
import Pipeline

/// Process-wide resource usage (CPU time, peak RSS) from getrusage.
enum ResourceUsage {
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }
    /// Resident set size now (VmRSS), MiB.
    static func currentRSSMiB() -> Double {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }
    /// Open file descriptors now.
    static func openFDs() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count ?? 1) - 1  // minus the one listing it
    }
    /// Least-squares slope of y over x (units of y per unit of x).
    static func slope(_ x: [Double], _ y: [Double]) -> Double {
        let n = Double(x.count)
        guard x.count >= 2 else { return 0 }
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var num = 0.0, den = 0.0
        for i in x.indices { num += (x[i] - mx) * (y[i] - my); den += (x[i] - mx) * (x[i] - mx) }
        return den == 0 ? 0 : num / den
    }
    static func peakRSSMiB() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_maxrss) / 1024
    }
}

struct BenchPipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Per-stage latency, frames/s, CPU% and peak RSS of the batch pipeline on a video.")
    @OptionGroup var pipeline: PipelineOptions
    @Option(help: "Resize frames to WxH before processing (e.g. 1280x720).") var size: String?
    @Option(help: "Passes over the video (medians over all frames).") var passes = 3
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "Video file (default: media/WolfgangLanger_Pexels.mp4).") var video: String = "media/WolfgangLanger_Pexels.mp4"

    func run() throws {
        var target: (Int, Int)? = nil
        if let s = size {
            let p = s.split(separator: "x").compactMap { Int($0) }
            guard p.count == 2, p[0] > 0, p[1] > 0 else { throw ValidationError("--size must be WxH") }
            target = (p[0], p[1])
        }
        var stages: [String: [Double]] = [:]
        var frames = 0, media = 0.0, wall = 0.0
        let cpu0 = ResourceUsage.cpuSeconds()
        var w = 0, h = 0, engine = ""
        for _ in 0..<max(1, passes) {
            let proc = try pipeline.makeBatchProcessor()   // fresh tracks each pass
            engine = proc.detector.engine
            let src = try VideoFile(path: video)
            let t0 = Date()
            while true {
                let d0 = DispatchTime.now().uptimeNanoseconds
                guard var f = try src.next() else { break }
                if let (tw, th) = target { f = try f.resized(width: tw, height: th) }
                w = f.width; h = f.height
                let decode = Double(DispatchTime.now().uptimeNanoseconds - d0) / 1e6
                let (r, _) = try proc.process(f, source: video, decodeMs: decode)
                let l = r.latencyMs
                for (k, v) in [("decode", l.decode), ("detect", l.detect), ("preprocess", l.preprocess), ("infer", l.infer), ("track", l.track), ("total", l.total)] {
                    stages[k, default: []].append(v)
                }
                frames += 1
                media = f.mediaTime
            }
            wall += Date().timeIntervalSince(t0)
            media += src.fps > 0 ? 1 / src.fps : 0
        }
        let cpu = ResourceUsage.cpuSeconds() - cpu0
        let mediaTotal = media * Double(max(1, passes))
        func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }
        let fps = Double(frames) / wall
        let result: [String: Any] = [
            "video": video, "size": "\(w)x\(h)", "frames": frames, "wall_s": wall, "fps": fps,
            "realtime_factor": mediaTotal / wall, "cpu_percent": 100 * cpu / wall, "peak_rss_mib": ResourceUsage.peakRSSMiB(),
            "machine": Machine.summary, "blas": BLASRuntime.summary, "kernels": BLASRuntime.kernels,
            "detector_engine": engine, "stages_ms": stages.mapValues { ["median": median($0), "mean": mean($0)] },
        ]
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print("video     \(video) at \(w)x\(h), \(frames) frames over \(passes) pass(es)")
        print("machine   \(Machine.summary)")
        print("blas      \(BLASRuntime.summary)")
        print("kernels   \(BLASRuntime.kernels)")
        print("detector  \(engine)")
        print(String(format: "throughput %.1f frames/s, %.1f× real time, CPU %.0f%% (of one core), peak RSS %.1f MiB", fps, mediaTotal / wall, 100 * cpu / wall, ResourceUsage.peakRSSMiB()))
        print("stage        median ms   mean ms   frames/s (1/mean)")
        for k in ["decode", "detect", "preprocess", "infer", "track", "total"] {
            let v = stages[k] ?? []
            print(k.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: " %-11.3f %-9.3f %.0f", median(v), mean(v), mean(v) > 0 ? 1000 / mean(v) : 0))
        }
    }
}

struct BenchStartup: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "startup", abstract: "Process start to first result: `emotiond image` on one photo, median of N runs.")
    @Option(help: "Runs.") var runs = 20
    @Argument(help: "Image (default: media/single_face.jpg).") var image = "media/single_face.jpg"

    func run() throws {
        // Children start as a user's shell would: without the variables a re-exec (or this VM) set.
        func child(_ args: [String]) -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            p.arguments = args
            p.environment = ProcessInfo.processInfo.environment.filter { $0.key != "OPENBLAS_CORETYPE" && $0.key != "EMOTIOND_BLAS_AUTO" }
            return p
        }
        var t: [Double] = []
        for _ in 0..<runs {
            let p = child(["image", image])
            p.standardOutput = FileHandle.nullDevice
            let s = Date()
            try p.run(); p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw RunError("emotiond image \(image) failed (exit \(p.terminationStatus))") }
            t.append(Date().timeIntervalSince(s) * 1000)
        }
        t.sort()
        // Whether the children re-exec (OpenBLAS's own choice weaker than this CPU's class): ask one.
        let probe = child(["--version"]), pipe = Pipe()
        probe.standardOutput = pipe
        try probe.run(); probe.waitUntilExit()
        let reexec = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("auto-selected")
        print("startup to first result (emotiond image \(image), OPENBLAS_CORETYPE unset, \(reexec ? "including the OpenBLAS re-exec" : "no OpenBLAS re-exec needed on this CPU")): median \(String(format: "%.1f", t[t.count / 2])) ms, min \(String(format: "%.1f", t[0])) ms over \(runs) runs")
        print("machine   \(Machine.summary)")
    }
}
