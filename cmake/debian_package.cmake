# CPack DEB settings: scripts/build_deb.sh runs cpack with them. Run-time dependencies come from
# dpkg-shlibdeps (the Debian packages that own the shared libraries the tools and libnst_stylizer
# link: libtorch1.13, libopencv-*406, libyaml-cpp0.7, libonnx1, libprotobuf32, libssl3, ...).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME nst)
set(CPACK_PACKAGE_VERSION ${NST_PACKAGE_VERSION})
set(CPACK_PACKAGE_VENDOR "nst")
set(CPACK_PACKAGE_CONTACT "nst maintainers <nst@invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "fast neural style transfer: train, apply and export style models")
set(CPACK_PACKAGE_DESCRIPTION
    "Trains Johnson et al. feed-forward style networks, applies them to images, folders and videos, exports them to ONNX, TorchScript and PyTorch state dicts, and provides libnst_stylizer (CMake: find_package(nst)).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
# Without OpenBLAS, LibTorch falls back to reference BLAS (much slower). The -dev packages are only
# for building programs against nst::stylizer; python3-torch for the importer script.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libopenblas0-openmp")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libtorch-dev, libopencv-dev, nlohmann-json3-dev, python3-torch")
include(CPack)
