import ArgumentParser
import Capture
import Foundation
import Pipeline
import Settings
import Sinks

/// `emotiond bench capture`: the live/daemon path on a camera: achieved fps, dropped frames,
/// capture→result latency (from the moment a frame is dequeued to its result), CPU and RSS.
struct BenchCapture: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "capture", abstract: "Camera → result latency, achieved fps, drops, CPU% and RSS over N seconds.")
    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var camera: CameraOptions
    @Option(help: "Seconds to run.") var seconds = 10.0
    @Option(help: "Soak mode: sample RSS and open fds every S seconds and report their slope (use with --seconds 600).") var sampleEvery: Double?
    @Option(help: "Also write the per-frame NDJSON log here (rotating at 64 MiB, as the daemon does).") var log: String?
    @Flag(inversion: .prefixedNo, help: "Frames in colour (BGR), as `live` and daemon snapshots need; --no-colour: the gray plane only, as `run` without snapshot_dir.")
    var colour = true

    func run() throws {
        let proc = try pipeline.makeProcessor()
        do { try PipelineOptions.configureForCamera(proc) } catch { throw RunError("\(error)") }
        let cam: V4L2Camera
        do { cam = try V4L2Camera(settings: camera.settings) } catch { throw RunError("\(error)") }
        cam.colour = colour
        let logWriter = try log.map { try RotatingLog(path: $0, maxBytes: 64 << 20, keep: 2, flushEvery: 30) }
        var lat: [Double] = []
        var samples: [(t: Double, rss: Double, fds: Int)] = []
        var nextSample = 0.0
        let cpu0 = ResourceUsage.cpuSeconds(), t0 = Date()
        while Date().timeIntervalSince(t0) < seconds {
            let c = DispatchTime.now().uptimeNanoseconds
            guard let f = try cam.next() else { break }
            let decode = Double(DispatchTime.now().uptimeNanoseconds - c) / 1e6
            let (r, _) = try proc.process(f, source: camera.device, decodeMs: decode)
            try logWriter?.write(r)
            lat.append(Double(DispatchTime.now().uptimeNanoseconds - cam.lastDequeueNanos) / 1e6)
            if let every = sampleEvery, Date().timeIntervalSince(t0) >= nextSample {
                samples.append((Date().timeIntervalSince(t0), ResourceUsage.currentRSSMiB(), ResourceUsage.openFDs()))
                nextSample += every
            }
        }
        try logWriter?.flush()
        let wall = Date().timeIntervalSince(t0)
        lat.sort()
        let med = lat.isEmpty ? 0 : lat[lat.count / 2], p95 = lat.isEmpty ? 0 : lat[min(lat.count - 1, lat.count * 95 / 100)]
        print("camera    \(camera.device): \(cam.width)x\(cam.height) \(cam.formatName) @ \(String(format: "%g", cam.fps)) fps requested, \(colour ? "BGR and gray plane" : "gray plane only")")
        print("machine   \(Machine.summary)")
        print(String(format: "achieved  %.1f fps over %.1f s; dropped %d, corrupt %d, reconnects %d", Double(cam.stats.frames) / wall, wall, cam.stats.dropped, cam.stats.corrupt, cam.stats.reconnects))
        print(String(format: "latency   capture→result median %.2f ms, p95 %.2f ms (from VIDIOC_DQBUF through conversion, detection, inference, tracking)", med, p95))
        // The simulated camera (LD_PRELOAD) keeps its frame files in this process's memory.
        let env = ProcessInfo.processInfo.environment
        let simMiB = (env["LD_PRELOAD"] ?? "").contains("simcam")
            ? ["SIMCAM_YUYV", "SIMCAM_MJPEG"].compactMap { env[$0] }.reduce(0.0) { $0 + Double((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) / 1_048_576 } : 0
        print(String(format: "resources CPU %.0f%% of one core, peak RSS %.1f MiB%@", 100 * (ResourceUsage.cpuSeconds() - cpu0) / wall, ResourceUsage.peakRSSMiB(),
                     simMiB > 0 ? String(format: " (%.1f MiB of it the camera simulator's frame files; emotiond's own ≈ %.1f MiB)", simMiB, ResourceUsage.peakRSSMiB() - simMiB) : ""))
        if sampleEvery != nil, samples.count >= 3 {
            // Slope after the first minute (or first third): allocator and caches warm up first.
            let warm = min(60, seconds / 3)
            let steady = samples.filter { $0.t >= warm }
            let hours = steady.map { $0.t / 3600 }
            let rssSlope = ResourceUsage.slope(hours, steady.map(\.rss)), fdSlope = ResourceUsage.slope(hours, steady.map { Double($0.fds) })
            print(String(format: "soak      %d samples over %.0f s; after %.0f s: RSS %.1f → %.1f MiB (min %.1f, max %.1f), slope %+.2f MiB/hour; open fds %d → %d, slope %+.2f /hour",
                         samples.count, wall, warm, steady.first?.rss ?? 0, steady.last?.rss ?? 0, steady.map(\.rss).min() ?? 0, steady.map(\.rss).max() ?? 0, rssSlope,
                         steady.first?.fds ?? 0, steady.last?.fds ?? 0, fdSlope))
        }
        print("detection full-frame passes on the worker thread: \(proc.scheduler.fullPasses); around-track search on every frame")
    }
}
