# -*- Python -*-
# lit configuration of the palm regression suite.

import os
import sys

import lit.formats
from lit.llvm import llvm_config

config.name = "palm"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test", ".json"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.palm_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%palm_src_root", config.palm_src_root))
config.substitutions.append(("%palm_obj_root", config.palm_obj_root))
# The C compiler the project is built with, for test harnesses that link
# palm-compile's object files.
config.substitutions.append(("%cc", config.host_cc))

llvm_config.with_system_environment(["HOME", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# Our tools first, then LLVM's (FileCheck, not, count).
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.palm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(["palm-opt", "palm-gen", "palm-compile"], [config.palm_tools_dir])
# palm-tokenize is built only where SentencePiece is installed.
if os.path.exists(os.path.join(config.palm_tools_dir, "palm-tokenize")):
    config.available_features.add("palm-tokenize")
    llvm_config.add_tool_substitutions(["palm-tokenize"], [config.palm_tools_dir])

# End-to-end tests launch programs under mpirun and check them with numpy.
import shutil
import subprocess
if shutil.which("mpirun"):
    config.available_features.add("mpi")
if subprocess.run([sys.executable, "-c", "import numpy"],
                  capture_output=True).returncode == 0:
    config.available_features.add("numpy")
# The JAX/optax oracle of training: the venv scripts/jax-venv.sh makes in
# the build directory (target palm-jax-venv), complete once its stamp exists.
jax_venv = os.path.join(config.palm_obj_root, "jax-venv")
jax_python = os.path.join(jax_venv, "bin", "python")
if os.access(jax_python, os.X_OK) and os.path.exists(
        os.path.join(jax_venv, "palm-requirements.txt")):
    config.available_features.add("jax")
    config.substitutions.append(("%jax_python", jax_python))
if shutil.which("nvidia-smi") and subprocess.run(
        ["nvidia-smi", "-L"], capture_output=True).returncode == 0:
    config.available_features.add("gpu")
if config.palm_have_cuda:
    config.available_features.add("cuda")
    config.substitutions.append(
        ("%ptxas", os.path.join(config.palm_cuda_root, "bin", "ptxas")))
    # The fake libcuda/cuBLASLt/NCCL (runtime/tests/fake_cuda) run cuda
    # programs on this machine, their PTX kernels interpreted.
    if os.path.exists(os.path.join(config.palm_fake_cuda_dir, "libcuda.so.1")):
        config.available_features.add("fake-cuda")
        config.substitutions.append(("%fake_cuda", config.palm_fake_cuda_dir))

# No silent skips in CI: what scripts/install-deps.sh provides (mpirun,
# numpy) and the CUDA toolkit CI machines carry (so the emulated CUDA
# libraries are built) must be here when CI is set; only tests that need a
# real GPU ("gpu") may be unsupported.
if os.environ.get("CI"):
    required = ["mpi", "numpy", "cuda", "fake-cuda", "palm-tokenize"]
    missing = [f for f in required if f not in config.available_features]
    if missing:
        lit_config.fatal(
            "CI is set, but these prerequisites of the suite are missing: %s "
            "(mpi: openmpi-bin, numpy: python3-numpy for %s, cuda: the CUDA "
            "toolkit at PALM_CUDA_ROOT, palm-tokenize: libsentencepiece-dev); "
            "run scripts/install-deps.sh"
            % (", ".join(missing), sys.executable))
