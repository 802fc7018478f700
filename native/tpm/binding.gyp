{
  "targets": [
    {
      "target_name": "ward_tpm",
      "sources": ["src/ward_tpm.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(pkg-config --cflags tss2-esys tss2-tctildr tss2-rc)"],
      "libraries": ["<!@(pkg-config --libs tss2-esys tss2-tctildr tss2-rc)", "-lpthread"]
    }
  ]
}
