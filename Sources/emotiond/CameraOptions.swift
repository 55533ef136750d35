import ArgumentParser
import Settings

/// The camera options of `live` and `bench capture`: defaults and ranges from the configuration
/// model (`EmotiondConfig.Camera`, `Limits`), so `--size 640x480 --fps 30` means what
/// `camera.width/height/fps` mean in the YAML file.
struct CameraOptions: ParsableArguments {
    @Option(help: "V4L2 camera device.") var device = EmotiondConfig.Camera().device
    @Option(help: "Capture size WxH.")
    var size = "\(EmotiondConfig.Camera().width)x\(EmotiondConfig.Camera().height)"
    @Option(help: "Capture frame rate.") var fps = EmotiondConfig.Camera().fps
    @Option(help: "Capture format: \(EmotiondConfig.Camera.formats.joined(separator: ", ")).")
    var format = EmotiondConfig.Camera().format

    /// `--size` as numbers (nil when not WxH).
    var dimensions: (width: Int, height: Int)? {
        let p = size.split(separator: "x").compactMap { Int($0) }
        return p.count == 2 ? (p[0], p[1]) : nil
    }

    func validate() throws {
        guard let d = dimensions else { throw ValidationError("--size must be WxH, e.g. 640x480; got \(size)") }
        let problems = [
            Limits.check("--size width", d.width, Limits.width), Limits.check("--size height", d.height, Limits.height),
            Limits.check("--fps", fps, Limits.fps),
            EmotiondConfig.Camera.formats.contains(format)
                ? nil : "--format must be one of \(EmotiondConfig.Camera.formats.joined(separator: ", ")), got \(format)",
        ].compactMap { $0 }
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
    }

    /// The camera section these options describe.
    var settings: EmotiondConfig.Camera {
        var s = EmotiondConfig.Camera()
        s.device = device; s.fps = fps; s.format = format
        if let d = dimensions { s.width = d.width; s.height = d.height }
        return s
    }
}
