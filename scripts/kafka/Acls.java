// Creates Kafka ACLs through the Admin API (aiokafka has no CreateAcls call). Run in the JVM's
// single-file source mode with the broker's jars on the class path:
//   java -cp '.cache/kafka/<version>/lib/*' scripts/kafka/Acls.java <bootstrap>  < acls.txt
// One ACL a line on standard input: `<principal> <operation> <resource type> <pattern type> <name>`,
// e.g. `User:skillsub-registry WRITE TOPIC LITERAL registry.events`; every line is an ALLOW from any
// host. Creating an ACL that exists changes nothing. The connection is PLAINTEXT: the local broker's
// plain listener is its administrator's (super user ANONYMOUS), never a service's.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class Acls {
    public static void main(String[] args) throws Exception {
        List<AclBinding> bindings = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            line = line.strip();
            if (line.isEmpty() || line.startsWith("#")) continue;
            String[] f = line.split("\\s+");
            if (f.length != 5) throw new IllegalArgumentException("expected 5 fields: " + line);
            bindings.add(new AclBinding(
                new ResourcePattern(ResourceType.fromString(f[2]), f[4], PatternType.fromString(f[3])),
                new AccessControlEntry(f[0], "*", AclOperation.fromString(f[1]), AclPermissionType.ALLOW)));
        }
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(props)) {
            admin.createAcls(bindings).all().get();
        }
        System.out.println("created " + bindings.size() + " ACLs");
    }
}
