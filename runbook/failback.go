package runbook

import "time"

// StepMirrorFailback prepares a mirror from the cluster failed over to back to the old
// primary: only what was written since the failover is copied, stranded records accounted.
const StepMirrorFailback = "mirror.failback"

// Stranded record policies of mirror.failback.
const (
	StrandedKeep = "keep"
	StrandedDrop = "drop"
)

// DefaultStrandedSuffix names the topics stranded records are kept in: <topic>.stranded.
const DefaultStrandedSuffix = ".stranded"

// MirrorFailbackParams for mirror.failback.
type MirrorFailbackParams struct {
	Stranded       string `yaml:"stranded" json:"stranded" ferry:"required" enum:"keep,drop" doc:"What happens to records the old primary holds that never reached the cluster failed over to: keep copies them, on the old primary, into <topic><strandedSuffix> for replay; drop leaves them where they are, skipped by every group. Either way each is counted in the outputs."`
	StrandedSuffix string `yaml:"strandedSuffix" json:"strandedSuffix,omitempty" doc:"Suffix of the topics stranded records are kept in; .stranded when empty."`
	Alias          string `yaml:"alias" json:"alias,omitempty" doc:"Origin alias of the flow failed over from (its offset syncs are mm2-offset-syncs.<alias>.internal on this replication's origin); this replication's target name when empty."`
}

func init() {
	Register(StepType{
		Name: StepMirrorFailback, NeedsReplication: true, Params: MirrorFailbackParams{}, DefaultTimeout: 30 * time.Minute,
		Summary: "Prepare the mirror back to the old primary (this replication's target) to copy only what was written since the failover; stranded records are counted, then kept aside or dropped.",
		Doc: "The flow failed over from (old primary → this replication's origin) left its offset syncs on the origin: they say which records there are copies. " +
			"Where that copy stopped is found by comparing records on both sides; what the old primary holds after it never reached the origin (written just before an unplanned loss) is stranded, " +
			"reported per partition with how many each group had read there. The mirror's offset-sync topic on the old primary is then written so that mirror.start copies only the origin's new records, after the stranded ones, and groups.translate moves positions exactly past them. " +
			"Run it before mirror.start; run again it changes nothing. It needs identity naming and the flow failed over from written by the builtin engine.",
		Outputs: []Output{
			{"toCopy", "Records the mirror will copy back: those written since the failover."},
			{"stranded", "Records on the old primary that never reached the origin."},
			{"strandedPartitions", "Per partition: the stranded offsets, and how many each group had read on the old primary."},
			{"kept", "Stranded records copied aside (stranded: keep)."},
			{"keptIn", "The topics they were kept in."},
			{"topic", "The mirror's offset-sync topic, on the old primary."},
			{"syncs", "Offset syncs written."},
		},
		Touches: replicationTouches("reads both clusters; writes the mirror's offset-sync topic on the target (and <topic>.stranded topics with stranded: keep)"),
	})
}
