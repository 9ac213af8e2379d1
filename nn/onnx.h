/* nn/onnx.h - export a CIFAR ResNet (nn.h's tn_resnet) as an ONNX model for
 * inference runtimes (ONNX Runtime, ...).
 *
 *     tn_onnx_options o = {.batch = 0};              // 0: a dynamic batch "N"
 *     if (tn_resnet_export_onnx(net, "model.onnx", &o) != TN_OK)
 *         fprintf(stderr, "%s\n", tn_error_message());
 *
 * The model is the eval-mode forward of tn_resnet_forward: opset 13, one
 * input "input" (N, in_channels, height, width) float32 (the images
 * normalised as in training) and one output "logits" (N, num_classes).
 * Batch norm becomes BatchNormalization nodes with the running statistics
 * (not folded into the convolutions, so the graph computes what tenet
 * computes up to float32 rounding; runtimes fold them when they optimise),
 * the option-A shortcut a Slice (steps 2 over H and W) and a Pad of the
 * channels, dropout nothing.  Initialisers carry the parameters' state_dict
 * names ("layer1.0.conv1.weight", ...).  The file is written atomically.
 *
 * The export needs tenet built with protobuf-c (meson -Donnx=auto finds
 * libprotobuf-c and the ONNX schema of libonnx-dev); without it
 * tn_onnx_available() is false and the export returns TN_ERR_STATE saying so. */
#ifndef TENET_NN_ONNX_H
#define TENET_NN_ONNX_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The opset the exporter writes (ai.onnx domain). */
#define TN_ONNX_OPSET 13

typedef struct tn_onnx_options {
    int batch;          /* > 0: a fixed batch; 0: a dynamic one, named "N" */
    int height, width;  /* the input's image size; 0 means 32 */
} tn_onnx_options;

/* Whether this build of tenet can write ONNX files. */
bool tn_onnx_available(void);

/* Write net's eval-mode forward to path (opt NULL: dynamic batch, 32 x 32).
 * TN_ERR_ARG for a negative batch or size, TN_ERR_IO when the file cannot be
 * written (nothing is left behind), TN_ERR_NOMEM, TN_ERR_STATE in a build
 * without ONNX support. */
tn_status tn_resnet_export_onnx(const tn_resnet *net, const char *path,
                                const tn_onnx_options *opt);

#ifdef __cplusplus
}
#endif
#endif
