/* examples/resnet_cifar/export_onnx.h - the export-onnx command. */
#ifndef RESNET_CIFAR_EXPORT_ONNX_H
#define RESNET_CIFAR_EXPORT_ONNX_H

/* resnet_cifar export-onnx --checkpoint C --out F [--batch N|dynamic]
 * [model options]; returns the exit status (0, 1 error, 2 bad options). */
int cmd_export_onnx(int argc, char **argv);

#endif
