/* examples/resnet_cifar/pair.h - the `pair` command: two comparisons,
 * method by method, as paired differences over their shared seeds. */
#ifndef RESNET_CIFAR_PAIR_H
#define RESNET_CIFAR_PAIR_H

/* resnet_cifar pair A B: exit status. */
int cmd_pair(int argc, char **argv);

#endif
