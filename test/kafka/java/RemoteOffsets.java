// RemoteOffsets prints what MirrorMaker 2's own client library reads from a cluster's
// checkpoint topic: RemoteClusterUtils.translateOffsets(bootstrap, sourceAlias, group),
// one "offset <topic> <partition> <offset>" line per partition. Run with Kafka's jars on the class path.
import java.time.Duration;
import java.util.Map;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.mirror.RemoteClusterUtils;

public class RemoteOffsets {
    public static void main(String[] args) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> offsets = RemoteClusterUtils.translateOffsets(
                Map.of("bootstrap.servers", args[0]), args[1], args[2], Duration.ofSeconds(30));
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
            System.out.println("offset " + e.getKey().topic() + " " + e.getKey().partition() + " " + e.getValue().offset());
        }
    }
}
