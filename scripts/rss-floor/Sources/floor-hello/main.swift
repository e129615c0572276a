#if canImport(Glibc)
import Glibc
#endif

// Says it is ready (unbuffered, so a script sees it at once), then sleeps until signalled: the
// runtime's own idle footprint.
_ = write(1, "ready\n", 6)
while true { pause() }
