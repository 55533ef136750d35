import ArgumentParser
import Detection
import Imaging
import Inference

struct Emotiond: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "emotiond",
            abstract: "Real-time facial emotion detection: cascade face detector + our own CNN engine.",
            version: versionText,
            subcommands: [LiveCommand.self, RunCommand.self, DevicesCommand.self, ImageCommand.self, BatchCommand.self, CheckConfig.self, ReportCommand.self, Classify.self, Eval.self, SchemasCommand.self, Bench.self]
        )
    }

    static let version = "0.1.0"

    static var versionText: String {
        """
        emotiond \(version)
        \(BLASRuntime.summary)
        \(BLASRuntime.kernels)
        OpenCV \(OpenCV.version); Haar cascades on the \(CascadeDetector.haarEngine)
        """
    }
}
