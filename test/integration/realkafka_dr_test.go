package integration

import (
	"testing"

	kafkatest "github.com/ferryhq/ferry/test/kafka"
)

// TestFailoverAndFailbackOnRealKafka is the planned DR round trip (failover.yaml, then
// failback.yaml) on Apache Kafka brokers.
func TestFailoverAndFailbackOnRealKafka(t *testing.T) {
	primary := kafkatest.StartCluster(t, "primary")
	standby := kafkatest.StartCluster(t, "standby")
	failoverAndFailback(t, primary.Addr, standby.Addr)
}

// TestFailoverPrefixedOnRealKafka is failover-prefixed.yaml on Apache Kafka brokers.
func TestFailoverPrefixedOnRealKafka(t *testing.T) {
	primary := kafkatest.StartCluster(t, "primary")
	standby := kafkatest.StartCluster(t, "standby")
	plannedFailover(t, primary.Addr, standby.Addr, "failover-prefixed.yaml", "north_america.orders")
}
