package kube

// SetBeforeUpdate installs the hook that runs between reading and writing a workload.
func SetBeforeUpdate(f func(w Workload)) { beforeUpdate = f }
