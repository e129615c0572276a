@preconcurrency import Glibc
import InsituCLI

// Line by line even into a pipe (`insitu job logs -f ID | grep ...`): C's default for a pipe is
// a 4 KiB block, which would hold lines back until the job ends.
setvbuf(stdout, nil, _IOLBF, 0)
await Insitu.runAsync()
