-- Source tables of the example dump project (pipelines/rj_escritorio/dump_exemplo): service
-- requests (chamados) and neighbourhoods (bairros) of a city, in the local PostgreSQL.
--   psql -h 127.0.0.1 -U postgres -d test -f examples/exemplo_db.sql
CREATE SCHEMA IF NOT EXISTS exemplo;
DROP TABLE IF EXISTS exemplo.chamados, exemplo.bairros;

CREATE TABLE exemplo.bairros (
    id_bairro integer PRIMARY KEY,
    nome text NOT NULL,
    area_planejamento smallint NOT NULL
);
INSERT INTO exemplo.bairros VALUES
    (1, 'Centro', 1), (2, 'Copacabana', 2), (3, 'Tijuca', 2), (4, 'Madureira', 3),
    (5, 'Campo Grande', 5);

CREATE TABLE exemplo.chamados (
    id bigint PRIMARY KEY,
    data_abertura timestamp NOT NULL,
    id_bairro integer NOT NULL REFERENCES exemplo.bairros,
    tipo text NOT NULL,
    status text NOT NULL
);
INSERT INTO exemplo.chamados
SELECT g,
       timestamp '2024-01-01 00:00' + g * interval '37 minutes',
       1 + g % 5,
       (ARRAY['Iluminação pública', 'Buraco na via', 'Poda de árvore'])[1 + g % 3],
       CASE WHEN g % 4 = 0 THEN 'Aberto' ELSE 'Fechado' END
FROM generate_series(1, 5000) AS g;
