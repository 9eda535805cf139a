package state

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The table's layout. The key schema is the one the first version
// deployed (changing it would replace the table, and the retained old
// table's state would be lost); the index was added beside it.
const (
	// KeyAttribute is the table's partition key (S): a session id, or a
	// reserved key starting with \x1f, which no session id can hold.
	KeyAttribute = "SessionId"
	// TTLAttribute is the attribute DynamoDB's TTL reads (epoch seconds).
	TTLAttribute = "ExpiresAt"
	// IndexName is the sparse global secondary index that lists, in one
	// Query, every item a run must find without knowing its key: the
	// watched sessions and the outbox.
	IndexName = "Shelf"
	// ShelfAttribute is the index's partition key (S); OnShelf its only
	// value. The index's sort key is KeyAttribute.
	ShelfAttribute = "Shelf"
	OnShelf        = "1"
	// OutboxPrefix starts the key of every outbox item (an event not yet
	// accepted by EventBridge), followed by its eventId. In the index it
	// sorts before every session id.
	OutboxPrefix = "\x1fsessionwatch/outbox/"
	// RunKey is the key of the one item that says where the last run cut
	// short by its deadline stopped, and the layout the table is in.
	RunKey = "\x1fsessionwatch/run"
	// LegacyRegistryKey is the key of the first version's registry: one
	// item holding every tracked id. Migrate moves it into the index.
	LegacyRegistryKey = "\x1fsessionwatch/registry"
	// Layout is the version of the table's layout this code writes.
	Layout = 2
)

// outboxAttributes are the attributes of an outbox item, projected into
// the index so that one Query reads the whole outbox.
var outboxAttributes = []string{"DetailType", "Detail", "EventId", "Owner", "Seq", "EventTime", "Created"}

// Schema is the definition of a table named name, as CreateTable takes
// it: on-demand, partition key KeyAttribute, and the index. template.yaml
// declares the same table (a test proves it); TTL on TTLAttribute is set
// apart, with UpdateTimeToLive.
func Schema(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: dbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dbtypes.AttributeDefinition{
			{AttributeName: aws.String(KeyAttribute), AttributeType: dbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(ShelfAttribute), AttributeType: dbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []dbtypes.KeySchemaElement{{AttributeName: aws.String(KeyAttribute), KeyType: dbtypes.KeyTypeHash}},
		GlobalSecondaryIndexes: []dbtypes.GlobalSecondaryIndex{{
			IndexName: aws.String(IndexName),
			KeySchema: []dbtypes.KeySchemaElement{
				{AttributeName: aws.String(ShelfAttribute), KeyType: dbtypes.KeyTypeHash},
				{AttributeName: aws.String(KeyAttribute), KeyType: dbtypes.KeyTypeRange},
			},
			Projection: &dbtypes.Projection{ProjectionType: dbtypes.ProjectionTypeInclude, NonKeyAttributes: outboxAttributes},
		}},
	}
}
