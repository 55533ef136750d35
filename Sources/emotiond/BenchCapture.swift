import ArgumentParser
import Capture
import Foundation
import Pipeline

/// `emotiond bench capture`: the live/daemon path on a camera: achieved fps, dropped frames,
/// capture→result latency (from the moment a frame is dequeued to its result), CPU and RSS.
struct BenchCapture: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "capture", abstract: "Camera → result latency, achieved fps, drops, CPU% and RSS over N seconds.")
    @OptionGroup var pipeline: PipelineOptions
    @Option(help: "V4L2 device.") var device = "/dev/video0"
    @Option(help: "Capture size WxH.") var size = "640x480"
    @Option(help: "Requested frame rate.") var fps = 30
    @Option(help: "Capture format: auto, yuyv, mjpeg, grey.") var format = "auto"
    @Option(help: "Seconds to run.") var seconds = 10.0

    func run() throws {
        let proc = try pipeline.makeProcessor()
        do { try proc.configureForCamera() } catch { throw RunError("\(error)") }
        var s = CameraSettings()
        let p = size.split(separator: "x").compactMap { Int($0) }
        guard p.count == 2 else { throw ValidationError("--size must be WxH") }
        s.device = device; s.width = p[0]; s.height = p[1]; s.fps = fps; s.format = format
        let cam: V4L2Camera
        do { cam = try V4L2Camera(settings: s) } catch { throw RunError("\(error)") }
        var lat: [Double] = []
        let cpu0 = ResourceUsage.cpuSeconds(), t0 = Date()
        while Date().timeIntervalSince(t0) < seconds {
            let c = DispatchTime.now().uptimeNanoseconds
            guard let f = try cam.next() else { break }
            let decode = Double(DispatchTime.now().uptimeNanoseconds - c) / 1e6
            _ = try proc.process(f, source: device, decodeMs: decode)
            lat.append(Double(DispatchTime.now().uptimeNanoseconds - cam.lastDequeueNanos) / 1e6)
        }
        let wall = Date().timeIntervalSince(t0)
        lat.sort()
        let med = lat.isEmpty ? 0 : lat[lat.count / 2], p95 = lat.isEmpty ? 0 : lat[min(lat.count - 1, lat.count * 95 / 100)]
        print("camera    \(device): \(cam.width)x\(cam.height) \(cam.formatName) @ \(String(format: "%g", cam.fps)) fps requested")
        print("machine   \(Machine.summary)")
        print(String(format: "achieved  %.1f fps over %.1f s; dropped %d, corrupt %d, reconnects %d", Double(cam.stats.frames) / wall, wall, cam.stats.dropped, cam.stats.corrupt, cam.stats.reconnects))
        print(String(format: "latency   capture→result median %.2f ms, p95 %.2f ms (from VIDIOC_DQBUF through conversion, detection, inference, tracking)", med, p95))
        // The simulated camera (LD_PRELOAD) keeps its frame files in this process's memory.
        let env = ProcessInfo.processInfo.environment
        let simMiB = (env["LD_PRELOAD"] ?? "").contains("simcam")
            ? ["SIMCAM_YUYV", "SIMCAM_MJPEG"].compactMap { env[$0] }.reduce(0.0) { $0 + Double((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) / 1_048_576 } : 0
        print(String(format: "resources CPU %.0f%% of one core, peak RSS %.1f MiB%@", 100 * (ResourceUsage.cpuSeconds() - cpu0) / wall, ResourceUsage.peakRSSMiB(),
                     simMiB > 0 ? String(format: " (%.1f MiB of it the camera simulator's frame files; emotiond's own ≈ %.1f MiB)", simMiB, ResourceUsage.peakRSSMiB() - simMiB) : ""))
        print("detection full-frame passes on the worker thread: \(proc.asyncPasses); around-track search on every frame")
    }
}
