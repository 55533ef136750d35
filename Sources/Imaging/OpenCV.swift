import CVBridge

/// Process-wide OpenCV settings and facts.
public enum OpenCV {
    /// The linked OpenCV's version, e.g. "4.6.0".
    public static var version: String { String(cString: cvb_version()) }

    /// Sets OpenCV's internal thread pool size (0: sequential). Camera modes use 1: the default
    /// pool (one thread per core) spins between calls and burned a whole extra core on 2 cores.
    public static func setThreads(_ n: Int) { cvb_set_num_threads(Int32(n)) }
}
