import InsituCLI

await Insitu.runAsync()
