import Foundation
import Inference
import Logging

// OpenBLAS picks its kernels from OPENBLAS_CORETYPE once, when the library is
// loaded (before main runs; OpenCV links it too). OpenBLAS 0.3.21 does not know
// some recent CPUs and falls back to its slowest kernels, so when the variable is
// unset and its own choice is of a weaker class than the CPU supports, we set it
// for this CPU and re-exec ourselves once. Opt out with EMOTIOND_NO_REEXEC=1 or by
// setting OPENBLAS_CORETYPE yourself.
BLASRuntime.reexecWithBestCoreTypeIfNeeded()
BLAS.tuneAllocator()
LoggingSystem.bootstrap { _ in StderrLogHandler() }
Emotiond.main()
