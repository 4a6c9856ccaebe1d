// The Kafka Streams peer of docket-joiner, for the joiner's drain benchmark: decisions joined
// to the latest policy edit (a GlobalKTable of the audit topic keyed by resource id), with
// exactly_once_v2 and two stream threads, writing EnrichedDecision records in the Confluent
// wire format. It does less than docket-joiner (no version-exact match, no grace period, no
// history horizon), so the comparison favours it.
package docket.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Produced;

public final class JoinPeer {
  private JoinPeer() {}

  public static void main(String[] args) throws Exception {
    String bootstrap = env("DOCKET_KAFKA_BOOTSTRAP", "127.0.0.1:19092");
    Registry registry = new Registry(env("DOCKET_SCHEMA_REGISTRY_URL",
        "http://127.0.0.1:18081/apis/ccompat/v7"));
    String decisions = env("PEER_DECISIONS_TOPIC", null);
    String audit = env("PEER_AUDIT_TOPIC", null);
    String output = env("PEER_OUTPUT_TOPIC", null);
    Path schemas = Path.of(env("PEER_SCHEMAS_DIR", "schemas"));

    Schema.Parser parser = new Schema.Parser();
    parser.parse(Files.readString(schemas.resolve("decision.avsc")));
    Schema enriched = parser.parse(Files.readString(schemas.resolve("enriched_decision.avsc")));
    Schema change = enriched.getField("policy_change").schema().getTypes().get(1);
    Schema status = enriched.getField("join_status").schema();
    int outputId = registry.register(output + "-value", enriched);

    Serde<GenericRecord> in = Serdes.serdeFrom(new WireWriter(-1), new WireReader(registry));
    Serde<GenericRecord> out = Serdes.serdeFrom(new WireWriter(outputId), new WireReader(registry));
    StreamsBuilder builder = new StreamsBuilder();
    GlobalKTable<String, GenericRecord> edits =
        builder.globalTable(audit, Consumed.with(Serdes.String(), in));
    builder.stream(decisions, Consumed.with(Serdes.String(), in))
        .leftJoin(edits, (key, d) -> policyId(d), (d, edit) -> join(d, edit, enriched, change, status))
        .to(output, Produced.with(Serdes.String(), out));

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, env("PEER_APPLICATION_ID", "docket-kstreams-peer"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 2);
    props.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("kstreams-peer").toString());
    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close();
      stopped.countDown();
    }));
    streams.start();
    System.out.println("kstreams-peer: running");
    stopped.await();
  }

  private static String policyId(GenericRecord decision) {
    Object policy = decision.get("policy");
    return policy == null ? "" : ((GenericRecord) policy).get("id").toString();
  }

  private static GenericRecord join(GenericRecord d, GenericRecord edit, Schema enriched,
      Schema change, Schema status) {
    GenericRecord out = new GenericData.Record(enriched);
    out.put("decision", d);
    String joinStatus;
    if (d.get("policy") == null) {
      joinStatus = "NO_POLICY";
    } else if (edit != null && (long) edit.get("time") <= (long) d.get("time")) {
      GenericRecord c = new GenericData.Record(change);
      GenericRecord actor = (GenericRecord) edit.get("actor");
      c.put("audit_event_id", edit.get("event_id"));
      c.put("action", edit.get("action"));
      c.put("actor_id", actor.get("id"));
      c.put("actor_role", actor.get("role"));
      c.put("time", edit.get("time"));
      c.put("policy_version", edit.get("policy_version"));
      c.put("lag_ms", ((long) d.get("time") - (long) edit.get("time")) / 1000);
      out.put("policy_change", c);
      joinStatus = "JOINED";
    } else {
      joinStatus = "NO_RECENT_EDIT";
    }
    out.put("join_status", new GenericData.EnumSymbol(status, joinStatus));
    return out;
  }

  private static String env(String name, String fallback) {
    String v = System.getenv(name);
    if (v != null && !v.isEmpty()) {
      return v;
    }
    if (fallback == null) {
      throw new IllegalArgumentException(name + " is required");
    }
    return fallback;
  }

  /** The Confluent-compatible registry API: schemas by id (cached), registration. */
  static final class Registry {
    private final String url;
    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();
    private final Map<Integer, Schema> byId = new ConcurrentHashMap<>();

    Registry(String url) {
      this.url = url.replaceAll("/+$", "");
    }

    Schema byId(int id) {
      return byId.computeIfAbsent(id, i -> {
        try {
          String body = send(HttpRequest.newBuilder(URI.create(url + "/schemas/ids/" + i)).GET());
          return new Schema.Parser().parse(json.readTree(body).get("schema").asText());
        } catch (IOException e) {
          throw new IllegalStateException("schema " + i, e);
        }
      });
    }

    int register(String subject, Schema schema) throws IOException {
      String request = json.writeValueAsString(Map.of("schema", schema.toString()));
      String body = send(HttpRequest.newBuilder(URI.create(url + "/subjects/" + subject + "/versions"))
          .header("Content-Type", "application/vnd.schemaregistry.v1+json")
          .POST(HttpRequest.BodyPublishers.ofString(request)));
      int id = json.readTree(body).get("id").asInt();
      byId.put(id, schema);
      return id;
    }

    private String send(HttpRequest.Builder request) throws IOException {
      try {
        HttpResponse<String> r = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() / 100 != 2) {
          throw new IOException("registry answered " + r.statusCode() + ": " + r.body());
        }
        return r.body();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException(e);
      }
    }
  }

  /** Reads magic byte 0, a 4-byte schema id and the Avro body. */
  static final class WireReader implements Deserializer<GenericRecord> {
    private final Registry registry;

    WireReader(Registry registry) {
      this.registry = registry;
    }

    @Override
    public GenericRecord deserialize(String topic, byte[] data) {
      if (data == null) {
        return null;
      }
      ByteBuffer buf = ByteBuffer.wrap(data);
      if (buf.get() != 0) {
        throw new IllegalArgumentException("not the Confluent wire format");
      }
      Schema schema = registry.byId(buf.getInt());
      try {
        return new GenericDatumReader<GenericRecord>(schema).read(null,
            DecoderFactory.get().binaryDecoder(data, 5, data.length - 5, null));
      } catch (IOException e) {
        throw new IllegalArgumentException("malformed Avro body", e);
      }
    }
  }

  /** Writes magic byte 0, the registered schema id and the Avro body. */
  static final class WireWriter implements Serializer<GenericRecord> {
    private final int id;

    WireWriter(int id) {
      this.id = id;
    }

    @Override
    public byte[] serialize(String topic, GenericRecord record) {
      if (id < 0) {
        throw new UnsupportedOperationException("input serde never writes");
      }
      ByteArrayOutputStream bytes = new ByteArrayOutputStream(512);
      bytes.write(0);
      bytes.writeBytes(ByteBuffer.allocate(4).putInt(id).array());
      BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(bytes, null);
      try {
        new GenericDatumWriter<GenericRecord>(record.getSchema()).write(record, encoder);
        encoder.flush();
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
      return bytes.toByteArray();
    }
  }
}
