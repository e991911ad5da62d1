a file of the fixture
