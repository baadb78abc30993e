"""Pure domain logic: no Faust or Kafka imports allowed below this package."""
