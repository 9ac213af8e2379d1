/* nn/onnx_unavailable.c - the ONNX export of a build without protobuf-c
 * (meson -Donnx=disabled, or auto without libprotobuf-c / protoc-c / the
 * ONNX schema): it says so.  See onnx.h. */
#include "onnx.h"

bool tn_onnx_available(void) { return false; }

tn_status tn_resnet_export_onnx(const tn_resnet *net, const char *path,
                                const tn_onnx_options *opt)
{
    (void)net;
    (void)opt;
    return tn_error_set(TN_ERR_STATE, "tenet: cannot export '%s': this build of tenet has no "
                                      "ONNX support (configure with -Donnx=enabled and install "
                                      "libprotobuf-c-dev, protobuf-c-compiler and libonnx-dev)",
                        path ? path : "(null)");
}
