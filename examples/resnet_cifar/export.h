/* examples/resnet_cifar/export.h - `resnet_cifar export`: the model of a
 * checkpoint as a file PyTorch loads. */
#ifndef RESNET_CIFAR_EXPORT_H
#define RESNET_CIFAR_EXPORT_H

/* resnet_cifar export --checkpoint C --out FILE: argv as main's (argv[1] is
 * "export"); the exit status (0, 1 for a bad file, 2 for bad options). */
int cmd_export(int argc, char **argv);

#endif
